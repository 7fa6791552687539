package host_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
)

func TestListPastSessionsSummaries(t *testing.T) {
	s, _ := openEncStore(t)
	ctx := context.Background()
	t0 := time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	add := func(sess abi.SessionID, turn int, kind string, ts time.Time, payload string) {
		e := storeEvent(sess, turn, kind, payload)
		e.TS = ts
		mustAppend(t, s, e)
	}
	// Timestamps are appended out of order: summaries use min and max.
	add("A", 1, abi.KindUserMessage, at(10), `{"text":"first A"}`)
	add("A", 2, abi.KindToolCall, at(5), `{"name":"ls"}`)
	add("A", 3, abi.KindToolResult, at(12), `{"out":"x"}`)
	add("A", 7, abi.KindToolCall, at(11), `{"name":"cat"}`)
	add("B", 1, abi.KindSystem, at(20), `{}`)
	add("B", 4, abi.KindAssistantMessage, at(30), `{"text":"hi"}`)
	add("C", 1, abi.KindUserMessage, at(1), `"only C"`)

	list, err := s.ListPastSessions(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []abi.PastSession{
		{ID: "B", FirstSeen: at(20), LastSeen: at(30), Events: 2, LastTurn: 4, ToolCalls: 0},
		{ID: "A", FirstSeen: at(5), LastSeen: at(12), Events: 4, LastTurn: 7, ToolCalls: 2, FirstUserMessage: "first A"},
		{ID: "C", FirstSeen: at(1), LastSeen: at(1), Events: 1, LastTurn: 1, ToolCalls: 0, FirstUserMessage: "only C"},
	}
	if len(list) != len(want) {
		t.Fatalf("ListPastSessions = %+v, want %d sessions", list, len(want))
	}
	for i, w := range want {
		g := list[i]
		if g.ID != w.ID || !g.FirstSeen.Equal(w.FirstSeen) || !g.LastSeen.Equal(w.LastSeen) || g.Events != w.Events ||
			g.LastTurn != w.LastTurn || g.ToolCalls != w.ToolCalls || g.FirstUserMessage != w.FirstUserMessage || g.Pinned != w.Pinned {
			t.Errorf("session %d = %+v\nwant %+v", i, g, w)
		}
	}

	// A new event moves C to the top.
	add("C", 2, abi.KindAssistantMessage, at(40), `{}`)
	top, err := s.ListPastSessions(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(top) != 2 || top[0].ID != "C" || top[1].ID != "B" {
		t.Errorf("ListPastSessions(2) = %v, want [C B]", sessionIDs(top))
	}
	if top[0].Events != 2 || !top[0].LastSeen.Equal(at(40)) {
		t.Errorf("C after a new event = %+v", top[0])
	}

	if _, err := s.ListPastSessions(ctx, -1); !errors.Is(err, host.ErrInvalidArgument) {
		t.Errorf("ListPastSessions(-1): %v, want ErrInvalidArgument", err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.ListPastSessions(canceled, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("ListPastSessions(canceled): %v, want context.Canceled", err)
	}
}

func sessionIDs(list []abi.PastSession) []abi.SessionID {
	var ids []abi.SessionID
	for _, ps := range list {
		ids = append(ids, ps.ID)
	}
	return ids
}

func TestListPastSessionsEmpty(t *testing.T) {
	s, _ := openPlainStore(t)
	list, err := s.ListPastSessions(context.Background(), 50)
	if err != nil || len(list) != 0 {
		t.Fatalf("ListPastSessions on an empty store = %v, %v; want none, nil", list, err)
	}
}

func TestFirstUserMessage(t *testing.T) {
	long := strings.Repeat("é", abi.PreviewMaxRunes+50)
	key := fakeOpenAIKey(3)
	tests := []struct {
		name   string
		events []abi.EventEnvelope // appended in order
		want   string
	}{
		{"text field", []abi.EventEnvelope{storeEvent("", 1, abi.KindUserMessage, `{"text":"fix the build"}`)}, "fix the build"},
		{"plain JSON string", []abi.EventEnvelope{storeEvent("", 1, abi.KindUserMessage, `"fix the tests"`)}, "fix the tests"},
		{"anthropic content blocks", []abi.EventEnvelope{storeEvent("", 1, abi.KindUserMessage,
			`{"role":"user","content":[{"type":"text","text":"refactor the parser"}]}`)}, "refactor the parser"},
		{"escaped text", []abi.EventEnvelope{storeEvent("", 1, abi.KindUserMessage, `{"text":"say \"hi\"\u0021"}`)}, `say "hi"!`},
		{"first of several", []abi.EventEnvelope{
			storeEvent("", 1, abi.KindSystem, `{"text":"system prompt"}`),
			storeEvent("", 1, abi.KindAssistantMessage, `{"text":"hello, how can I help"}`),
			storeEvent("", 2, abi.KindUserMessage, `{"text":"the first one"}`),
			storeEvent("", 3, abi.KindUserMessage, `{"text":"the second one"}`),
		}, "the first one"},
		{"no user message", []abi.EventEnvelope{storeEvent("", 1, abi.KindAssistantMessage, `{"text":"not a user"}`)}, ""},
		{"truncated", []abi.EventEnvelope{storeEvent("", 1, abi.KindUserMessage, jsonString(long))}, strings.Repeat("é", abi.PreviewMaxRunes)},
		{"redacted", []abi.EventEnvelope{storeEvent("", 1, abi.KindUserMessage, `{"text":"my key is `+key+`"}`)}, "my key is «redacted:openai-key»"},
	}
	s, _ := openPlainStore(t)
	for i, tt := range tests {
		sess := abi.SessionID(fmt.Sprint("fum-", i))
		for _, e := range tt.events {
			e.Session = sess
			mustAppend(t, s, e)
		}
		got := findSession(t, s, sess).FirstUserMessage
		if !utf8.ValidString(got) || utf8.RuneCountInString(got) > abi.PreviewMaxRunes {
			t.Errorf("%s: FirstUserMessage is not valid UTF-8 of at most %d runes: %q", tt.name, abi.PreviewMaxRunes, got)
		}
		if got != tt.want {
			t.Errorf("%s: FirstUserMessage = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestListPastSessionsPinned(t *testing.T) {
	s, _ := openPlainStore(t)
	ctx := context.Background()
	for _, sess := range []abi.SessionID{"p1", "p2", "p3"} {
		mustAppend(t, s, storeEvent(sess, 1, abi.KindSystem, `{}`))
	}
	if err := s.Pin(ctx, "p2"); err != nil {
		t.Fatal(err)
	}
	for _, sess := range []abi.SessionID{"p1", "p2", "p3"} {
		if got, want := findSession(t, s, sess).Pinned, sess == "p2"; got != want {
			t.Errorf("%s Pinned = %v, want %v", sess, got, want)
		}
	}
	if err := s.Unpin(ctx, "p2"); err != nil {
		t.Fatal(err)
	}
	if findSession(t, s, "p2").Pinned {
		t.Error("p2 still Pinned after Unpin")
	}
}
