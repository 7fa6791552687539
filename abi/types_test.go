package abi_test

import (
	"encoding/json"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
)

// TestStdOnly enforces that abi imports nothing outside the standard
// library, so guests can build it for wasip1 with no dependencies.
func TestStdOnly(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if first, _, _ := strings.Cut(path, "/"); strings.Contains(first, ".") {
				t.Errorf("%s imports %s, which is not in the standard library", name, path)
			}
		}
	}
}

// TestJSONFieldNames pins the JSON encoding, which is part of the ABI.
func TestJSONFieldNames(t *testing.T) {
	ts := time.Date(2026, 5, 11, 13, 28, 45, 0, time.UTC)
	tests := []struct {
		v    any
		want string
	}{
		{abi.EventEnvelope{ID: 7, Session: "s1", Turn: 2, Kind: abi.KindUserMessage, TS: ts, Payload: json.RawMessage(`"hi"`)},
			`{"id":7,"session":"s1","turn":2,"kind":"user_message","ts":"2026-05-11T13:28:45Z","payload":"hi"}`},
		{abi.EventEnvelope{Session: "s1", Kind: abi.KindSystem, TS: ts},
			`{"id":0,"session":"s1","turn":0,"kind":"system","ts":"2026-05-11T13:28:45Z"}`},
		{abi.ToolIntent{Session: "s1", Turn: 1, CallID: "c1", Tool: "bash", ArgsHash: "ab", Args: json.RawMessage(`{}`), StartedAt: ts},
			`{"session":"s1","turn":1,"call_id":"c1","tool":"bash","args_hash":"ab","args":{},"started_at":"2026-05-11T13:28:45Z"}`},
		{abi.ToolOutcome{Session: "s1", CallID: "c1", Status: abi.StatusError, Error: "exit 1", EndedAt: ts},
			`{"session":"s1","call_id":"c1","status":"error","error":"exit 1","ended_at":"2026-05-11T13:28:45Z"}`},
		{abi.PastSession{ID: "s1", FirstSeen: ts, LastSeen: ts, Events: 3, LastTurn: 1, ToolCalls: 1, FirstUserMessage: "hi", Pinned: true},
			`{"id":"s1","first_seen":"2026-05-11T13:28:45Z","last_seen":"2026-05-11T13:28:45Z","events":3,"last_turn":1,"tool_calls":1,"first_user_message":"hi","pinned":true}`},
	}
	for _, tt := range tests {
		got, err := json.Marshal(tt.v)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tt.want {
			t.Errorf("json.Marshal(%T)\n got %s\nwant %s", tt.v, got, tt.want)
		}
	}
}
