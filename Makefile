# gofastr store — build, test, bench, fuzz.
GO        ?= go
PKGS      ?= ./...
FUZZTIME  ?= 10s
CROSS     := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64

# The AVX-512 AES-GCM assembly (internal/pagecrypt/vgcm) is opt-in: it is
# compiled only with this build tag.
VGCM_TAGS := gofastr_vgcm
VGCM_PKGS := ./internal/pagecrypt/...
# 1 when this CPU has the instructions vgcm needs. make test then runs the
# vgcm tests with VGCM_REQUIRE=1, which turns any skip of them into a
# failure (a vgcm test that skips on such a machine proves nothing).
VGCM_CPU := $(shell f=/proc/cpuinfo; test -r $$f && grep -qw avx512f $$f && grep -qw vaes $$f && grep -qw vpclmulqdq $$f && echo 1)
VGCM_REQUIRE ?= $(VGCM_CPU)

# Corpus-based tests read real transcripts from GOFASTR_TRANSCRIPTS (they
# skip, saying why, without it); point it at the data beside the checkout
# when that exists.
GOFASTR_TRANSCRIPTS ?= $(if $(wildcard ../shared/data/sessions),$(abspath ../shared/data/sessions))
export GOFASTR_TRANSCRIPTS
# The pricing corpus test reads genai-prices' test dataset from here.
GOFASTR_PRICING_TESTDATA ?= $(if $(wildcard ../shared/data/pricing),$(abspath ../shared/data/pricing))
export GOFASTR_PRICING_TESTDATA
# The billing parsers are checked against the documented example bodies here.
GOFASTR_BILLING_TESTDATA ?= $(if $(wildcard ../shared/data/billing-api),$(abspath ../shared/data/billing-api))
export GOFASTR_BILLING_TESTDATA

# 1 when this machine can mount a small tmpfs (root, and a mount that
# works; CI's can): the disk-full tests that need one then fail instead of
# skipping (GOFASTR_REQUIRE_SMALLFS, read by internal/testkit/smallfs and
# the runner's scripts). make diskfull always sets it.
SMALLFS_REQUIRE ?= $(shell [ "$$(id -u 2>/dev/null)" = 0 ] && d=$$(mktemp -d) && { mount -t tmpfs -o size=1m tmpfs $$d >/dev/null 2>&1 && umount $$d && echo 1; rmdir $$d; })

.PHONY: all build demo test test-unit test-vgcm test-race cross vet bench bench-vfs bench-big bench-guest fuzz crash-long vectors vectors-check clean

all: build

# make demo: the recorded sessions of testdata/sessions in a fresh encrypted
# store (a temporary directory, removed at the end), the example guests in
# the sandbox, a reconciliation against recorded billing responses and a
# scan of the store's files for plaintext; a report on stdout. Seconds;
# safe to rerun. DEMO_FLAGS="--dir /tmp/demo" keeps the store, "--json"
# prints the report as JSON. make test runs it too (cmd/runner's TestDemo).
demo:
	$(GO) run ./cmd/runner demo $(DEMO_FLAGS)

build:
	CGO_ENABLED=0 $(GO) build $(PKGS)
	CGO_ENABLED=0 $(GO) build -tags $(VGCM_TAGS) $(PKGS)

vet:
	CGO_ENABLED=0 $(GO) vet $(PKGS)
	CGO_ENABLED=0 $(GO) vet -tags $(VGCM_TAGS) $(PKGS)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }

# make test: what CI runs. Unit tests (plain and -race; the plain ones
# include the demo, end to end); vgcm's tests,
# pagecrypt's frozen vectors and the short sqlitevfs suite with
# -tags gofastr_vgcm (test-vgcm, about 30 s); cgo-free builds and the
# cross-builds, with and without the tag; the peers module's smoke run
# (test-peers, cgo). Heavy suites have their own targets below.
test: vet build cross test-unit test-vgcm test-race test-peers

test-unit:
	GOFASTR_REQUIRE_SMALLFS=$(SMALLFS_REQUIRE) CGO_ENABLED=0 $(GO) test -count=1 -timeout 20m $(PKGS)

test-vgcm:
	@if [ "$(VGCM_REQUIRE)" = 1 ]; then \
		echo "vgcm: VGCM_REQUIRE=1 (the CPU has AVX512F, VAES and VPCLMULQDQ): a skipped vgcm test fails"; \
	else \
		echo "vgcm: the CPU lacks AVX512F, VAES or VPCLMULQDQ: vgcm's tests skip, crypto/cipher's paths still run"; \
	fi
	VGCM_REQUIRE=$(VGCM_REQUIRE) CGO_ENABLED=0 $(GO) test -count=1 -tags $(VGCM_TAGS) $(VGCM_PKGS)
	CGO_ENABLED=0 $(GO) test -count=1 -short -tags $(VGCM_TAGS) ./sqlitevfs/

test-race:
	GOFASTR_REQUIRE_SMALLFS=$(SMALLFS_REQUIRE) CGO_ENABLED=1 $(GO) test -race -count=1 -short -timeout 20m $(PKGS)

cross:
	@for t in $(CROSS); do \
		echo "cross-build $$t (default, -tags $(VGCM_TAGS))"; \
		CGO_ENABLED=0 GOOS=$${t%/*} GOARCH=$${t#*/} $(GO) build $(PKGS) || exit 1; \
		CGO_ENABLED=0 GOOS=$${t%/*} GOARCH=$${t#*/} $(GO) build -tags $(VGCM_TAGS) $(PKGS) || exit 1; \
	done
	@echo "cross-build wasip1/wasm (abi, guest SDK, test guests)"
	CGO_ENABLED=0 GOOS=wasip1 GOARCH=wasm $(GO) build ./abi/ ./guest/...
	CGO_ENABLED=0 GOOS=wasip1 GOARCH=wasm $(GO) vet ./guest/ ./sandbox/testdata/guests/...
	@for g in sandbox/testdata/guests/*/; do \
		CGO_ENABLED=0 GOOS=wasip1 GOARCH=wasm $(GO) build -o /dev/null ./$$g || exit 1; \
	done

# make bench: the benchmarks behind docs/BENCHMARKS.md, with the settings
# used there (about 15 minutes on 2 cores). make bench-big adds the
# 1M-event store (built once, about 2 minutes, cached in $TMPDIR).
bench: bench-vfs
	$(GO) test -run='^$$' -bench=BenchmarkVFS -benchtime=1x -count=7 ./sqlitevfs/
	$(GO) test -cpu=1 -run='^$$' -bench='BenchmarkVFS/(scan|point)/(plain|aesgcm|adiantum)$$' -benchtime=1x -count=7 ./sqlitevfs/
	@d=$$(mktemp -d) && $(GO) test -c -tags $(VGCM_TAGS) -o $$d/vgcm.test ./internal/pagecrypt/vgcm/ && \
	for r in 1 2 3 4 5; do $$d/vgcm.test -test.run='^$$' -test.bench='Open|Seal' -test.count=1 | grep '^Benchmark'; done; \
	rm -r $$d
	$(GO) test -run='^$$' -bench=BenchmarkOpen -benchtime=5x -count=3 ./internal/engine/
	$(GO) test -run='^$$' -bench=AppendEvent -benchtime=3000x -count=8 ./host/
	$(GO) test -run='^$$' -bench='EventsSince|ListPastSessions' -benchtime=300x -count=5 ./host/
	$(GO) test -run='^$$' -bench='Redact|Compress|AppendDict' -count=3 ./host/

# make bench-vfs: plain vs aesgcm for the default build (crypto/cipher) and
# for -tags gofastr_vgcm, side by side in one run. Both test binaries are
# built first, then run alternately, BENCH_ROUNDS times each, so both builds
# see the same machine conditions; every ratio is aesgcm/plain within one
# process and round, and the table shows medians over the rounds.
BENCH_ROUNDS ?= 7
BENCH_VFS    ?= BenchmarkVFS/(insert1|insertBatch|scan|point)/(plain|aesgcm)$$
bench-vfs:
	@d=$$(mktemp -d) && \
	$(GO) test -c -o $$d/default.test ./sqlitevfs/ && \
	$(GO) test -c -tags $(VGCM_TAGS) -o $$d/vgcm.test ./sqlitevfs/ && \
	for r in $$(seq $(BENCH_ROUNDS)); do \
		for b in default vgcm; do \
			echo "round $$r: $$b" >&2; \
			(cd sqlitevfs && $$d/$$b.test -test.run='^$$' -test.bench='$(BENCH_VFS)' -test.benchtime=1x -test.count=1) >$$d/out.txt || { cat $$d/out.txt; exit 1; }; \
			sed -n "s/^Benchmark/$$r $$b Benchmark/p" $$d/out.txt >>$$d/all.txt; \
		done; \
	done && \
	cp $$d/all.txt $${BENCH_OUT:-/dev/null} && \
	awk "$$VFS_SUMMARY_AWK" $$d/all.txt && rm -r $$d

# Input: "<round> <build> BenchmarkVFS/<workload>/<vfs>-N 1 <ns> ns/op <x>
# cpu-us/row <y> rows/s". Output: a Markdown table of medians.
define VFS_SUMMARY_AWK
function median(key,   n, i, j, t, v) {
	n = 0
	for (i = 1; i <= rounds; i++) if ((key, i) in val) v[++n] = val[key, i]
	for (i = 2; i <= n; i++) { t = v[i]; for (j = i - 1; j >= 1 && v[j] > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
	if (n == 0) return "-"
	return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
{
	split($$3, p, "/"); w = p[2]; c = p[3]; sub(/-[0-9]+$$/, "", c)
	for (i = 4; i < NF; i++) {
		if ($$(i + 1) == "rows/s") val[$$2, w, c, "rows", $$1] = $$i
		if ($$(i + 1) == "cpu-us/row") val[$$2, w, c, "cpu", $$1] = $$i
	}
	if ($$1 > rounds) rounds = $$1
	if (!((w) in seen)) { seen[w] = 1; order[++nw] = w }
}
END {
	for (r = 1; r <= rounds; r++) for (k = 1; k <= nw; k++) for (b = 0; b < 2; b++) {
		B = b ? "vgcm" : "default"; w = order[k]
		if ((B, w, "aesgcm", "rows", r) in val && (B, w, "plain", "rows", r) in val) {
			val[B, w, "ratio", r] = val[B, w, "aesgcm", "rows", r] / val[B, w, "plain", "rows", r]
			val[B, w, "cpuratio", r] = val[B, w, "plain", "cpu", r] / val[B, w, "aesgcm", "cpu", r]
		}
	}
	print "| workload | build | plain rows/s | aesgcm rows/s | aesgcm/plain | plain cpu-us/row | aesgcm cpu-us/row | CPU plain/aesgcm |"
	print "|---|---|---:|---:|---:|---:|---:|---:|"
	for (k = 1; k <= nw; k++) for (b = 0; b < 2; b++) {
		B = b ? "vgcm" : "default"; w = order[k]
		printf "| %s | %s | %.0f | %.0f | %.2f | %.3g | %.3g | %.2f |\n", w, B, median(B SUBSEP w SUBSEP "plain" SUBSEP "rows"), median(B SUBSEP w SUBSEP "aesgcm" SUBSEP "rows"), median(B SUBSEP w SUBSEP "ratio"), median(B SUBSEP w SUBSEP "plain" SUBSEP "cpu"), median(B SUBSEP w SUBSEP "aesgcm" SUBSEP "cpu"), median(B SUBSEP w SUBSEP "cpuratio")
	}
	print ""
	print "medians of " rounds " rounds; ratios are taken within one process and round (default: crypto/cipher, vgcm: -tags gofastr_vgcm)"
}
endef
export VFS_SUMMARY_AWK

bench-big:
	GOFASTR_BENCH_BIG=1 $(GO) test -run='^$$' -bench='EventsSince|ListPastSessions' -benchtime=300x -count=5 -timeout=60m ./host/

# make bench-guest: the guest benchmarks behind docs/BENCHMARKS.md,
# section "Guests" (about 10 minutes on an idle machine; the first run also
# builds two 100k-event stores, cached in $TMPDIR). Each benchmark runs
# -count times; the document gives the medians. GuestReplayDirect: the
# example replay guest against direct reads of the same events, in one run.
bench-guest:
	$(GO) test -timeout=60m -run='^$$' -bench='GuestEvents$$' -benchtime=3x -count=5 ./sandbox/
	$(GO) test -timeout=60m -run='^$$' -bench='GuestReplayEmit' -benchtime=1x -count=3 ./sandbox/
	$(GO) test -timeout=60m -run='^$$' -bench='GuestReplayDirect' -benchtime=1x -count=5 ./sandbox/
	$(GO) test -timeout=60m -run='^$$' -bench='Instantiate' -benchtime=300x -count=5 ./sandbox/
	$(GO) test -timeout=60m -run='^$$' -bench='Compile' -benchtime=3x -count=3 ./sandbox/

# make crash-long: the SIGKILL crash loops and the multi-process tests
# (event IDs and counters, racing opens, dictionaries, rekeys) with
# GOFASTR_CRASH_ROUNDS=$(CRASH_ROUNDS): that many kill rounds, and that many
# tenths of a second for the timed ones. GOFASTR_TEST_SEED=<seed> in the
# environment replays the random choices of a logged run (see
# internal/testkit/proc).
CRASH_ROUNDS ?= 500
crash-long:
	GOFASTR_CRASH_ROUNDS=$(CRASH_ROUNDS) $(GO) test -count=1 -run='Crash|RekeyRace|IDsProcesses|CounterProcesses|OpenRace|OtherProcess' -timeout=90m -v $(PKGS)

# make guests: the example guests of guest/examples (replay, costaudit,
# agentloop) as wasip1 modules in $(GUESTS_DIR); their test
# (go test ./guest/examples) builds and runs them itself.
GUESTS     := replay costaudit agentloop
GUESTS_DIR ?= build/guests
.PHONY: guests
guests:
	@mkdir -p $(GUESTS_DIR)
	@for g in $(GUESTS); do \
		echo "guest $$g -> $(GUESTS_DIR)/$$g.wasm"; \
		CGO_ENABLED=0 GOOS=wasip1 GOARCH=wasm $(GO) build -trimpath -o $(GUESTS_DIR)/$$g.wasm ./guest/examples/$$g || exit 1; \
	done

# make vectors: regenerate the reproducible frozen test vectors
# (internal/cmd/genvectors). make vectors-check regenerates them into a
# temporary directory and compares byte for byte; make test runs the same
# check (internal/cmd/genvectors's TestCheck).
vectors:
	$(GO) run ./internal/cmd/genvectors

vectors-check:
	$(GO) run ./internal/cmd/genvectors -check

clean:
	$(GO) clean -testcache

# --- diskfull ---
# make diskfull: disk full during append, rekey, encryption, KEK rotation,
# retention (VACUUM), a rollover's new month and DropMonthsBefore, and the
# runner's keys commands on a full disk (docs/RELIABILITY.md "Disk full").
# The tmpfs tests need root; this target sets GOFASTR_REQUIRE_SMALLFS=1,
# so that they fail, saying why, where they cannot mount (go test alone
# skips them); the injected ones (internal/diskfull) need none. make test runs the same
# tests with fewer injected fill points; DISKFULL_FAULTS=full tries every
# one.
DISKFULL_FAULTS ?=
.PHONY: diskfull
diskfull:
	GOFASTR_REQUIRE_SMALLFS=1 GOFASTR_FAULTS=$(DISKFULL_FAULTS) CGO_ENABLED=0 $(GO) test -count=1 -v -run 'DiskFull|ShmFull' ./keyring/ ./sqlitevfs/ ./host/ ./internal/diskfull/
	GOFASTR_REQUIRE_SMALLFS=1 CGO_ENABLED=0 $(GO) test -count=1 -v -run 'TestScripts/keys_diskfull' ./cmd/runner/

# --- bench-peers ---
# make bench-peers: this store (encrypted and plaintext) beside the SQLite
# libraries a Go program would otherwise use, the same workloads alternating
# in one run (docs/BENCHMARKS.md, "Peers side by side"). bench/peers is a
# module of its own (cgo: it needs gcc); the store's module never imports it.
# SQLCipher cannot be linked beside mattn/go-sqlite3 and runs as a child
# process. PEERS_FLAGS adds flags of bench/peers/cmd/peers (-rounds, -peers,
# -append1, ...). make test-peers: vet, then a tiny run of every peer.
# make bench-peers-node: the same workloads on SQLite3MultipleCiphers'
# sqlcipher and chacha20 schemes through Node (npm, node-gyp; not in make test).
PEERS_FLAGS ?=
.PHONY: bench-peers test-peers bench-peers-node
bench-peers:
	@d=$$(mktemp -d) && \
	(cd bench/peers && CGO_ENABLED=1 $(GO) build -o $$d/sqlcipherpeer ./cmd/sqlcipherpeer && \
		CGO_ENABLED=1 $(GO) build -o $$d/peers ./cmd/peers) && \
	uptime && $$d/peers -sqlcipher $$d/sqlcipherpeer $(PEERS_FLAGS); rc=$$?; uptime; rm -r $$d; exit $$rc

test-peers:
	cd bench/peers && CGO_ENABLED=1 $(GO) vet ./...
	cd bench/peers && CGO_ENABLED=1 $(GO) test -count=1 -short -timeout 10m ./...

bench-peers-node:
	bench/peers/node/run.sh

# --- faults ---
# make faults: the fault-injection loops of internal/reliability over its
# whole workload (an encrypted store, its cost ledger and a monthly
# rollover: group-committed appends, tool calls, attempts, batches,
# retention, rekey, KEK rotation, a change of month), with
# GOFASTR_FAULTS=full: every N of each Nth-call sweep (EIO, ENOSPC, once
# or persisting), 200 seeded random runs, and the power-loss seeds; each
# run is checked (acknowledged writes, half-present operations, page
# authentication, integrity_check, plaintext marker) and the report table
# is printed. Hours on a 2-core machine: FAULT_STRIDE=k runs every kth N
# (and 200/k random runs), FAULT_TESTS narrows the tests (a -run pattern),
# FAULT_REPORT=file also writes the table as Markdown. make test runs a
# sample (GOFASTR_FAULT_SEED, printed, replays it).
FAULT_STRIDE ?= 1
FAULT_TESTS  ?= .
.PHONY: faults
faults:
	GOFASTR_FAULTS=full GOFASTR_FAULT_STRIDE=$(FAULT_STRIDE) $(if $(FAULT_REPORT),GOFASTR_FAULT_REPORT=$(abspath $(FAULT_REPORT))) \
		CGO_ENABLED=0 $(GO) test -count=1 -v -timeout 10h -run '$(FAULT_TESTS)' ./internal/reliability/

# --- faults: power loss ---
# make faults-power: the power-loss loops alone, long version: a database
# (internal/faultvfs) with the power cut at every write, and the whole
# workload (internal/reliability) with cut points spread over it, for each
# power-loss mode. GOFASTR_FAULT_SEED=<seed> replays a logged run.
.PHONY: faults-power
faults-power:
	GOFASTR_FAULTS=full $(GO) test -count=1 -run='PowerLoss' -timeout=90m -v ./internal/faultvfs/ ./internal/reliability/

# --- soak ---
# make soak: six processes on one monthly-rollover directory for
# SOAK_DURATION (three appenders, retention with ledger syncs, a
# reconciler, a tailing reader) with a clock running 3 simulated days a
# second; each process samples its memory, open files and goroutines
# every second, judged by their trend after the warm-up; prints them and
# the directory's size. go test runs a 12-second version, and a second
# one with a leak injected that must fail the checks.
SOAK_DURATION ?= 5m
.PHONY: soak
soak:
	GOFASTR_SOAK_DURATION=$(SOAK_DURATION) CGO_ENABLED=0 $(GO) test -count=1 -run='^TestSoak$$' -timeout=2h -v ./internal/soak/

# --- scale ---
# make scale: stores of SCALE_EVENTS/10, 3*SCALE_EVENTS/10 and SCALE_EVENTS
# events across twelve month files, generated once and cached in $TMPDIR
# (gofastr-scale-*; the 10M store takes about half an hour on 2 busy
# cores), then measured: file sizes, open time, EventsSince,
# ListPastSessions and retention, with the growth from the smallest to
# the largest. go test runs a small version.
SCALE_EVENTS ?= 10000000
.PHONY: scale
scale:
	GOFASTR_SCALE_EVENTS=$(SCALE_EVENTS) CGO_ENABLED=0 $(GO) test -count=1 -run='^TestScale$$' -timeout=4h -v ./internal/scale/

# --- fuzz ---
# make fuzz: every fuzz target of the module (every package of PKGS), one
# after the other, each for FUZZTIME (default 10s) with one fuzz worker
# (FUZZ_PARALLEL=1: the campaign is meant to run beside other work). For
# each target it prints the executions and the new interesting inputs, and
# at the end "N targets, M execs, K findings". A finding (a failing input,
# which go test writes under the package's testdata/fuzz/FuzzX/) does not
# stop the campaign; make fuzz fails at the end if there was any. make
# fuzz-long is the same with FUZZTIME_LONG (default 5m) per target.
# FUZZMINTIME bounds the minimization of each new interesting input (go
# test's default, 60s, would spend a short campaign minimizing the large
# seeds of the store-backed targets instead of fuzzing).
FUZZTIME_LONG ?= 5m
FUZZ_PARALLEL ?= 1
FUZZMINTIME   ?= 2s
# The AVX-512 AES-GCM package's differential target means something only
# with its build tag on a CPU that runs it; elsewhere it is left out.
FUZZ_VGCM     ?= $(VGCM_CPU)
.PHONY: fuzz fuzz-long
fuzz:
	@GO='$(GO)' PKGS='$(PKGS)' FUZZTIME='$(FUZZTIME)' FUZZ_PARALLEL='$(FUZZ_PARALLEL)' FUZZMINTIME='$(FUZZMINTIME)' FUZZ_VGCM='$(FUZZ_VGCM)' VGCM_TAGS='$(VGCM_TAGS)' sh -c "$$FUZZ_SH"

fuzz-long:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME_LONG)

define FUZZ_SH
log=$$(mktemp); trap 'rm -f "$$log"' EXIT
targets=0; execs=0; findings=0; failed=""
echo "fuzz: $$FUZZTIME per target, -parallel $$FUZZ_PARALLEL, -fuzzminimizetime $$FUZZMINTIME; $$(uptime | sed 's/.*load/load/')"
for p in $$($$GO list $$PKGS); do
	tags=""
	case "$$p" in */internal/pagecrypt/vgcm)
		if [ "$$FUZZ_VGCM" != 1 ]; then echo "$$p: left out (needs AVX-512 VAES, FUZZ_VGCM=1)"; continue; fi
		tags="-tags=$$VGCM_TAGS";;
	esac
	fs=$$($$GO test $$tags -list='^Fuzz' "$$p" 2>/dev/null | grep '^Fuzz') || continue
	for f in $$fs; do
		targets=$$((targets + 1))
		VGCM_REQUIRE=$$FUZZ_VGCM $$GO test $$tags -run='^$$' -fuzz="^$$f$$" -fuzztime="$$FUZZTIME" -fuzzminimizetime="$$FUZZMINTIME" -parallel="$$FUZZ_PARALLEL" "$$p" >"$$log" 2>&1
		rc=$$?
		last=$$(grep -E '^fuzz: elapsed: .*execs: ' "$$log" | tail -n 1)
		n=$$(echo "$$last" | sed -n 's/.*execs: \([0-9]*\).*/\1/p'); n=$${n:-0}
		ni=$$(echo "$$last" | sed -n 's/.*new interesting: \([0-9]*\) (total: \([0-9]*\)).*/\1 (corpus \2)/p'); ni=$${ni:-0}
		execs=$$((execs + n))
		if [ $$rc -eq 0 ]; then
			printf '%-50s %-28s execs %10s  new interesting %s\n' "$$p" "$$f" "$$n" "$$ni"
		else
			findings=$$((findings + 1)); failed="$$failed $$p.$$f"
			printf '%-50s %-28s execs %10s  FINDING (exit %s)\n' "$$p" "$$f" "$$n" "$$rc"
			grep -v '^fuzz: elapsed: ' "$$log" | sed 's/^/    /'
		fi
	done
done
echo "fuzz: $$targets targets, $$execs execs, $$findings findings"
if [ $$findings -ne 0 ]; then echo "fuzz: findings in$$failed"; exit 1; fi
endef
export FUZZ_SH
