// Package deploy tests the files under deploy/: the systemd unit (verified,
// and run under a real systemd booted in a container), its sysctl drop-in
// and configuration example, the container image with the compose project
// of three sites, and the Kubernetes manifests. Tests that need a tool
// (systemd-analyze, the host's systemd, the Docker engine) skip, saying
// why, when it is not there.
package deploy
