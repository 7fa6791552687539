package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/gofastr/store/host"
)

func init() { scriptCmds["bigjsonl"] = cmdBigJSONL }

// cmdBigJSONL writes a JSONL file of three events whose third payload is
// larger than a store accepts (host.MaxPayloadSize) but fits a JSONL line:
//
//	bigjsonl FILE
func cmdBigJSONL(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: bigjsonl FILE")
	}
	var b strings.Builder
	b.WriteString(`{"type":"header","format":"gofastr-jsonl","version":1}` + "\n")
	for i, text := range []string{"one", "two", strings.Repeat("x", host.MaxPayloadSize+100)} {
		fmt.Fprintf(&b, `{"type":"event","event":{"id":%d,"session":"big","turn":1,"kind":"user_message","ts":"2026-10-01T00:00:0%dZ","payload":{"text":%q}}}`+"\n", i+1, i, text)
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), []byte(b.String()), 0o600))
}
