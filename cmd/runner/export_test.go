package main

import (
	"os"
	"strconv"

	"github.com/rogpeppe/go-internal/testscript"
)

func init() {
	scriptCmds["truncate"] = cmdTruncate
}

// cmdTruncate cuts a file to its first N bytes, or drops its last N
// bytes when N is negative:
//
//	truncate FILE N
func cmdTruncate(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: truncate FILE N")
	}
	path := ts.MkAbs(args[0])
	n, err := strconv.ParseInt(args[1], 10, 64)
	ts.Check(err)
	if n < 0 {
		st, err := os.Stat(path)
		ts.Check(err)
		n += st.Size()
	}
	ts.Check(os.Truncate(path, n))
}
