# gofastr store — build, test, bench, fuzz.
GO        ?= go
PKGS      ?= ./...
FUZZTIME  ?= 10s
CROSS     := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64

.PHONY: all build test test-unit test-race cross vet bench bench-big fuzz crash-long clean

all: build

build:
	CGO_ENABLED=0 $(GO) build $(PKGS)

vet:
	CGO_ENABLED=0 $(GO) vet $(PKGS)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }

# make test: what CI runs. Unit tests (plain and -race), a cgo-free build and
# the cross-builds. Heavy suites have their own targets below.
test: vet build cross test-unit test-race

test-unit:
	CGO_ENABLED=0 $(GO) test -count=1 $(PKGS)

test-race:
	CGO_ENABLED=1 $(GO) test -race -count=1 -short $(PKGS)

cross:
	@for t in $(CROSS); do \
		echo "cross-build $$t"; \
		CGO_ENABLED=0 GOOS=$${t%/*} GOARCH=$${t#*/} $(GO) build $(PKGS) || exit 1; \
	done

# make bench: the benchmarks behind docs/BENCHMARKS.md, with the settings
# used there (about 10 minutes on 2 cores). make bench-big adds the
# 1M-event store (built once, about 2 minutes, cached in $TMPDIR).
bench:
	$(GO) test -run='^$$' -bench=BenchmarkVFS -benchtime=1x -count=7 ./sqlitevfs/
	$(GO) test -cpu=1 -run='^$$' -bench='BenchmarkVFS/(scan|point)/(plain|aesgcm|adiantum)$$' -benchtime=1x -count=7 ./sqlitevfs/
	$(GO) test -run='^$$' -bench='Open|Seal' -count=5 ./internal/pagecrypt/vgcm/
	$(GO) test -run='^$$' -bench=BenchmarkOpen -benchtime=5x -count=3 ./internal/engine/
	$(GO) test -run='^$$' -bench=AppendEvent -benchtime=3000x -count=8 ./host/
	$(GO) test -run='^$$' -bench='EventsSince|ListPastSessions' -benchtime=300x -count=5 ./host/
	$(GO) test -run='^$$' -bench='Redact|Compress|AppendDict' -count=3 ./host/

bench-big:
	GOFASTR_BENCH_BIG=1 $(GO) test -run='^$$' -bench='EventsSince|ListPastSessions' -benchtime=300x -count=5 -timeout=60m ./host/

# make fuzz: each fuzz target for FUZZTIME (short and bounded).
fuzz:
	@for p in $$($(GO) list $(PKGS)); do \
		for f in $$($(GO) test -list='^Fuzz' $$p | grep '^Fuzz'); do \
			echo "fuzz $$p $$f"; \
			$(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) $$p || exit 1; \
		done; \
	done

# make crash-long: the SIGKILL crash loops with many more rounds, and the
# multi-process rekey race (TestRekeyRace) for 50 s.
crash-long:
	GOFASTR_CRASH_ROUNDS=500 $(GO) test -count=1 -run='Crash|RekeyRace' -timeout=60m -v $(PKGS)

clean:
	$(GO) clean -testcache
