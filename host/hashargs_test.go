package host_test

import (
	"fmt"
	"testing"

	"github.com/gofastr/store/host"
)

func TestHashArgs(t *testing.T) {
	tests := []struct {
		args, want string
	}{
		// FIPS 180-2 test vectors.
		{"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
	}
	for _, tt := range tests {
		if got := host.HashArgs([]byte(tt.args)); got != tt.want {
			t.Errorf("HashArgs(%q) = %s, want %s", tt.args, got, tt.want)
		}
	}
	if a, b := host.HashArgs([]byte(`{"a":1,"b":2}`)), host.HashArgs([]byte(`{"b":2,"a":1}`)); a == b {
		t.Errorf("HashArgs ignores byte order: %s", a)
	}
}

func ExampleHashArgs() {
	fmt.Println(host.HashArgs([]byte(`{"cmd":"ls -la"}`)))
	// Output: a33b25964f141568d30a0e83f592840ef9aec948fba35b6df3f865dbb3b95c98
}
