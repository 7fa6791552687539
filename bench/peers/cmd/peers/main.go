// Command peers runs the peers benchmark (make bench-peers): the same
// append and read workloads on this store, encrypted and plaintext, and on
// mattn/go-sqlite3, modernc.org/sqlite, ncruces' adiantum VFS and, when
// -sqlcipher names the cmd/sqlcipherpeer binary, SQLCipher, alternating in
// rounds, and prints Markdown tables of the medians with each peer's ratio
// to this store encrypted, and whether the targets were met.
//
// Progress goes to stderr, the tables to stdout. It exits 1 on an error,
// not on a missed target (the report says so).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"strings"

	"github.com/gofastr/store/bench/peers"
	"github.com/gofastr/store/bench/peers/mattn"
)

func main() {
	cfg := peers.Full
	flag.IntVar(&cfg.Rounds, "rounds", cfg.Rounds, "rounds")
	flag.IntVar(&cfg.Append1, "append1", cfg.Append1, "events appended by the single caller per round")
	flag.IntVar(&cfg.AppendN, "appendn", cfg.AppendN, "events appended by the concurrent callers per round")
	flag.IntVar(&cfg.SessionReads, "session-reads", cfg.SessionReads, "whole-session reads per round")
	flag.IntVar(&cfg.PointReads, "point-reads", cfg.PointReads, "point reads per round")
	flag.IntVar(&cfg.Sessions, "sessions", cfg.Sessions, "sessions of the read database")
	flag.StringVar(&cfg.Dir, "dir", "", "directory for the databases (default: the temporary directory)")
	only := flag.String("peers", "", "comma-separated peer names to run (default: all)")
	sqlcipher := flag.String("sqlcipher", "", "path of the cmd/sqlcipherpeer binary (empty: no SQLCipher peer)")
	flag.StringVar(&prof.file, "cpuprofile", "", "PREFIX: write CPU profiles of the runs of -profile-workload by the in-process peers to PREFIX.<peer>.<round>")
	flag.StringVar(&prof.workload, "profile-workload", peers.Append1, "the workload -cpuprofile covers")
	flag.Parse()
	if err := run(cfg, *only, *sqlcipher); err != nil {
		fmt.Fprintln(os.Stderr, "peers:", err)
		os.Exit(1)
	}
}

func run(cfg peers.Config, only, sqlcipher string) (err error) {
	ctx := context.Background()
	want := func(name string) bool {
		return only == "" || strings.Contains(","+only+",", ","+name+",")
	}
	var benches []peers.Bench
	defer func() {
		for _, b := range benches {
			if cerr := b.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("close %s: %w", b.Name(), cerr)
			}
		}
	}()
	// The store first: it configures the SQLite runtime in wazero (and its
	// compilation cache) that the adiantum peer shares.
	var whats []string
	for _, o := range []peers.Opener{peers.StoreEncrypted, peers.StorePlain, mattn.Opener, peers.Modernc, peers.Adiantum} {
		if !want(o.Name) {
			continue
		}
		fmt.Fprintf(os.Stderr, "building the read database of %s\n", o.Name)
		l, err := peers.NewLocal(ctx, o, cfg)
		if err != nil {
			return err
		}
		benches = append(benches, profiled{l})
		whats = append(whats, fmt.Sprintf("- %s: %s", o.Name, o.What))
	}
	if sqlcipher != "" && want("sqlcipher") {
		fmt.Fprintln(os.Stderr, "starting", sqlcipher)
		r, err := peers.NewRemote(sqlcipher, cfg)
		if err != nil {
			return err
		}
		benches = append(benches, r)
		whats = append(whats, "- sqlcipher: github.com/mutecomm/go-sqlcipher/v4 v4.4.2 (cgo; SQLCipher 4 on SQLite 3.33.0: AES-256-CBC + HMAC-SHA512 per page, libtomcrypt), database/sql, in a child process")
	}
	results, err := peers.Run(ctx, benches, cfg, os.Stderr)
	if err != nil {
		return err
	}
	names := make([]string, len(benches))
	for i, b := range benches {
		names[i] = b.Name()
	}
	base := peers.StoreEncrypted.Name
	s := peers.Summarize(results, base)
	peers.WriteTable(os.Stdout, s, names, base, cfg)
	fmt.Println("\ntargets (this store encrypted, group commit, vs mattn/go-sqlite3 plaintext, one commit per event; same durability):")
	peers.WriteTargets(os.Stdout, s, base)
	fmt.Println("\npeers:")
	for _, w := range whats {
		fmt.Println(w)
	}
	return nil
}

// prof is what -cpuprofile asks for.
var prof struct{ file, workload string }

// profiled writes a CPU profile of each run of prof.workload.
type profiled struct{ *peers.Local }

func (p profiled) Run(ctx context.Context, w string, round int) (_ peers.Result, err error) {
	if prof.file == "" || w != prof.workload {
		return p.Local.Run(ctx, w, round)
	}
	f, err := os.Create(fmt.Sprintf("%s.%s.%d", prof.file, p.Name(), round))
	if err != nil {
		return peers.Result{}, err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	if err := pprof.StartCPUProfile(f); err != nil {
		return peers.Result{}, err
	}
	defer pprof.StopCPUProfile()
	return p.Local.Run(ctx, w, round)
}
