// Package clientproto is the codec of the Atoll client protocol: the
// frames that clients and agents exchange over a Unix socket, a TLS
// connection or an in-process pipe. docs/PROTOCOL.md is the reference;
// this package is its Go implementation, shared by package agent (the
// server side) and package client.
//
// A frame on the wire is
//
//	length u32   big endian: the number of bytes that follow (type and body)
//	type   u8
//	body   the fields of the type, in order
//
// Append encodes a Frame after a buffer; Parse decodes the type and body of
// one frame (what follows the length) and never panics, allocates at most
// in proportion to its input, and accepts only canonical encodings, so a
// frame that parses re-encodes to the same bytes. Reader reads frames from
// a stream, enforcing a maximum length before it reads a body.
package clientproto
