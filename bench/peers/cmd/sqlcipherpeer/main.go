// Command sqlcipherpeer serves the SQLCipher peer to cmd/peers in a child
// process (SQLCipher's cgo SQLite cannot be linked beside mattn's). It
// reads requests on stdin and answers on stdout (see peers.Serve); it is
// not meant to be run by hand.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/gofastr/store/bench/peers"
	"github.com/gofastr/store/bench/peers/sqlcipher"
)

func main() {
	config := flag.String("config", "", "the workloads' configuration (peers.Config as JSON)")
	flag.Parse()
	cfg := peers.Full
	if *config != "" {
		if err := json.Unmarshal([]byte(*config), &cfg); err != nil {
			fmt.Fprintln(os.Stderr, "sqlcipherpeer: -config:", err)
			os.Exit(2)
		}
	}
	if err := peers.Serve(context.Background(), sqlcipher.Opener, cfg, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "sqlcipherpeer:", err)
		os.Exit(1)
	}
}
