package main

import (
	"os"
	"strconv"

	"github.com/rogpeppe/go-internal/testscript"
)

func init() {
	scriptCmds["corrupt"] = cmdCorrupt
}

// cmdCorrupt inverts the bits of COUNT bytes (1 by default) of a file from
// OFFSET:
//
//	corrupt FILE OFFSET [COUNT]
func cmdCorrupt(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: corrupt FILE OFFSET [COUNT]")
	}
	off, err := strconv.ParseInt(args[1], 10, 64)
	ts.Check(err)
	n := 1
	if len(args) == 3 {
		n, err = strconv.Atoi(args[2])
		ts.Check(err)
	}
	f, err := os.OpenFile(ts.MkAbs(args[0]), os.O_RDWR, 0)
	ts.Check(err)
	defer f.Close()
	buf := make([]byte, n)
	_, err = f.ReadAt(buf, off)
	ts.Check(err)
	for i := range buf {
		buf[i] ^= 0xff
	}
	_, err = f.WriteAt(buf, off)
	ts.Check(err)
}
