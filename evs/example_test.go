package evs_test

import (
	"fmt"
	"os"
	"strings"

	"github.com/atoll-gcs/atoll/evs"
)

// Two nodes deliver two Agreed messages of one configuration in different
// orders.
func ExampleCheck() {
	const trace = `{"ev":"install","node":"a","inc":1,"domain":"site/fra","conf":{"id":"r:12:a","kind":"reg","members":["a","b"]}}
{"ev":"install","node":"b","inc":1,"domain":"site/fra","conf":{"id":"r:12:a","kind":"reg","members":["a","b"]}}
{"ev":"send","node":"a","inc":1,"domain":"site/fra","conf":"r:12:a","msg":"a/1/7","svc":"agreed","hash":"x"}
{"ev":"send","node":"b","inc":1,"domain":"site/fra","conf":"r:12:a","msg":"b/1/3","svc":"agreed","hash":"y"}
{"ev":"deliver","node":"a","inc":1,"domain":"site/fra","conf":"r:12:a","msg":"a/1/7","svc":"agreed","hash":"x"}
{"ev":"deliver","node":"a","inc":1,"domain":"site/fra","conf":"r:12:a","msg":"b/1/3","svc":"agreed","hash":"y"}
{"ev":"deliver","node":"b","inc":1,"domain":"site/fra","conf":"r:12:a","msg":"b/1/3","svc":"agreed","hash":"y"}
{"ev":"deliver","node":"b","inc":1,"domain":"site/fra","conf":"r:12:a","msg":"a/1/7","svc":"agreed","hash":"x"}
`
	events, err := evs.Read(strings.NewReader(trace), "example")
	if err != nil {
		fmt.Println(err)
		return
	}
	vs := evs.Check(events, evs.Options{})
	if err := evs.Report(os.Stdout, vs); err != nil {
		fmt.Println(err)
	}
	// Output:
	// 6 agreed order: site/fra conf r:12:a: a/1 delivered a/1/7 before b/1/3 but b/1 delivered b/1/3 before a/1/7
}
