package sqlitevfs

import "unsafe"

// hexKey decodes the hex digits of hk into key, which must be half as
// long, without an intermediate copy (hex.Decode would need hk as a []byte,
// an uncleared copy of the key), and wipes hk. It reports whether hk was
// exactly len(key) bytes in hex; on failure key's contents are unspecified.
func hexKey(key []byte, hk string) bool {
	defer wipeString(hk)
	if len(hk) != 2*len(key) {
		return false
	}
	bad := byte(0)
	for i := range key {
		hi, ok1 := unhex(hk[2*i])
		lo, ok2 := unhex(hk[2*i+1])
		if !ok1 || !ok2 {
			bad = 1
		}
		key[i] = hi<<4 | lo
	}
	return bad == 0
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// wipeString overwrites the bytes of s with zeros. s must be a string no
// one else uses and whose bytes are writable: the URI parameter, which
// vfs.Filename.URIParameter copies out of SQLite's memory into a fresh heap
// allocation for each call. (Go treats strings as immutable; nothing reads
// s after this.)
func wipeString(s string) {
	if len(s) == 0 {
		return
	}
	clear(unsafe.Slice(unsafe.StringData(s), len(s)))
}
