package keyring

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"filippo.io/age"
)

// maxEscrowSize bounds the escrow file ImportDEK reads: a few hundred bytes
// per X25519 recipient, a few KiB per post-quantum one.
const maxEscrowSize = 1 << 20

// ExportDEK writes the DEK of the database at dbPath, unwrapped with the raw
// KEK kek, to a new escrow file at outPath, encrypted to the age recipients
// in recipientKey. The escrow file is a plain binary age file whose
// plaintext is the raw 32-byte DEK, so it can be recovered with the stock
// tool: age -d -i key.txt escrow.age > dek.bin.
//
// recipientKey holds one or more age public keys ("age1…" X25519, or
// "age1pq1…" post-quantum hybrid; all of one kind), separated by newlines,
// commas or spaces, as in an age recipients file ("#" starts a comment
// line). A symmetric "32-byte recipient key" is not supported:
// recovering from it would need this package, which is what escrow must not
// depend on.
//
// It is [ExportDEKWith] with [RawKEK](kek) and the parsed recipients.
func ExportDEK(dbPath string, kek, recipientKey []byte, outPath string) error {
	recipients, err := ParseRecipients(recipientKey)
	if err != nil {
		return err
	}
	return ExportDEKWith(dbPath, RawKEK(kek), outPath, recipients...)
}

// ExportDEKWith writes the DEK of the database at dbPath, unwrapped with a KEK
// from src, to a new escrow file at outPath encrypted to recipients; any of
// them can recover it. The file is written with mode 0600 through a
// temporary file, fsync and an exclusive link, and ExportDEKWith fails with an
// error wrapping [fs.ErrExist] rather than overwrite an existing file (which
// might be the only escrow of another store).
//
// An escrow file stays valid across KEK rotations, since the DEK does not
// change; only a rekey makes it obsolete. ExportDEKWith holds the store lock
// shared and the header lock exclusively (see [LockStore]), so it waits
// for a rekey in progress and never exports a DEK that a concurrent rekey
// is replacing.
func ExportDEKWith(dbPath string, src KEKSource, outPath string, recipients ...age.Recipient) error {
	if len(recipients) == 0 {
		return fmt.Errorf("%w: no recipients", ErrEscrowFormat)
	}
	unlock, err := lockHeader(dbPath, src)
	if err != nil {
		return err
	}
	defer unlock()
	dek, err := loadDEK(dbPath, src)
	if err != nil {
		return err
	}
	defer clear(dek)
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, recipients...)
	if err != nil {
		return fmt.Errorf("keyring: encrypt escrow: %w", err)
	}
	if _, err := w.Write(dek); err != nil {
		return fmt.Errorf("keyring: encrypt escrow: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("keyring: encrypt escrow: %w", err)
	}
	err = writeFileNew(outPath, buf.Bytes(), 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("keyring: escrow file %s already exists; not overwriting it: %w", outPath, fs.ErrExist)
	}
	if err != nil {
		return fmt.Errorf("keyring: write escrow file: %w", err)
	}
	return nil
}

// ImportDEK installs the DEK from the escrow file exportedPath as the DEK
// of the database at dbPath, wrapped under the raw KEK localKEK. identity
// holds one or more age secret keys ("AGE-SECRET-KEY-1…"), in the format of
// an age identity file. It is [ImportDEKWith] with [RawKEK](localKEK).
func ImportDEK(dbPath, exportedPath string, identity, localKEK []byte) error {
	ids, err := parseIdentities(identity)
	if err != nil {
		return err
	}
	return ImportDEKWith(dbPath, exportedPath, RawKEK(localKEK), ids...)
}

// ImportDEKWith decrypts the escrow file exportedPath with identities and
// atomically writes a header for the database at dbPath that wraps the
// escrowed DEK under a KEK from src. Use it when the header or its KEK is
// lost, or to move a store to a machine with another KEK.
//
// If none of the identities matches, the error wraps both [ErrWrongIdentity]
// and age's [*age.NoIdentityMatchError]. If the file is not an age file or
// does not hold a 32-byte DEK, the error wraps [ErrEscrowFormat]. If the
// store already has a header that src opens, ImportDEKWith does nothing when
// it holds the same DEK and fails with [ErrDEKMismatch] when it does not.
//
// Otherwise (the header is missing, corrupt ([ErrCorruptHeader]) or wrapped
// under another KEK) the escrowed DEK must first pass the database's key
// check (see package sqlitevfs), which proves it is the key the database
// is sealed under; if it does not, ImportDEKWith fails with
// [ErrForeignDEK]. A store whose database has no data yet accepts an
// escrowed DEK only if it has no usable header either (there is nothing to
// check the DEK against, and nothing to lose). A header of an unsupported
// version is never replaced. On any error no file is changed (other than
// the creation of the empty lock files).
//
// Like the other header operations it holds the store lock shared and the
// header lock exclusively (see [LockStore]) and first finishes or rolls
// back an interrupted rekey, which needs src to open <db>.dek.next.
func ImportDEKWith(dbPath, exportedPath string, src KEKSource, identities ...age.Identity) error {
	dek, err := readEscrow(exportedPath, identities)
	if err != nil {
		return err
	}
	defer clear(dek)
	unlock, err := lockHeader(dbPath, src)
	if err != nil {
		return err
	}
	defer unlock()
	hp := HeaderPath(dbPath)
	h, err := readHeaderFile(hp)
	haveHeader := err == nil
	switch {
	case err == nil:
		cur, err := unwrap(h, hp, src)
		if err == nil {
			same := subtle.ConstantTimeCompare(cur, dek) == 1
			clear(cur)
			if same {
				return nil
			}
			return fmt.Errorf("%w: %s opens with the local KEK and holds a different DEK than %s (another store's escrow?); remove the header first to replace it anyway",
				ErrDEKMismatch, hp, exportedPath)
		}
		if !errors.Is(err, ErrWrongKEK) {
			return err
		}
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, ErrCorruptHeader):
	default: // including ErrUnsupportedVersion: leave it to a newer build
		return err
	}
	if err := checkEscrowedDEK(dbPath, dek, haveHeader); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrForeignDEK, exportedPath, err)
	}
	// The DEK's creation date survives from the header being replaced,
	// if there is one to read it from.
	t := headerTimes{rewrapped: now()}
	if haveHeader {
		t.created = h.Created()
	}
	nh, err := wrapNew(src, dek, t)
	if err != nil {
		return err
	}
	return writeHeader(hp, nh, true)
}

// checkEscrowedDEK returns nil if dek is the key of the database at
// dbPath by its key check, or if the database has no data and there is no
// usable header (haveHeader false) that replacing could lose.
func checkEscrowedDEK(dbPath string, dek []byte, haveHeader bool) error {
	if checkNoData(dbPath, HeaderPath(dbPath)) == nil {
		if haveHeader {
			return errors.New("the database has no data to check the DEK against, and a header under another KEK exists; not replacing it")
		}
		return nil
	}
	uses, err := databaseUses(dbPath, dek)
	if err != nil {
		return fmt.Errorf("cannot check the DEK against the database: %w", err)
	}
	if !uses {
		return fmt.Errorf("the DEK does not pass the key check of %s (another store's escrow, or one made before a rekey)", dbPath)
	}
	return nil
}

func readEscrow(path string, identities []age.Identity) ([]byte, error) {
	if len(identities) == 0 {
		return nil, fmt.Errorf("keyring: no age identities given")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keyring: read escrow file: %w", err)
	}
	defer f.Close()
	r, err := age.Decrypt(io.LimitReader(f, maxEscrowSize), identities...)
	if _, ok := errors.AsType[*age.NoIdentityMatchError](err); ok {
		return nil, fmt.Errorf("%w: %s: %w", ErrWrongIdentity, path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrEscrowFormat, path, err)
	}
	dek := make([]byte, DEKSize+1)
	n, err := io.ReadFull(r, dek)
	if err != io.ErrUnexpectedEOF || n != DEKSize {
		clear(dek)
		if err == nil || err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("%w: %s does not hold a %d-byte DEK", ErrEscrowFormat, path, DEKSize)
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrEscrowFormat, path, err)
	}
	return dek[:DEKSize], nil
}

// ParseRecipients parses age public keys (X25519 "age1…" and hybrid
// post-quantum "age1pq1…") separated by newlines, commas or white space,
// as in an age recipients file; lines starting with "#" are comments. Its
// errors wrap [ErrEscrowFormat], name the line, and quote a token only
// when it looks like a public key: never a secret key pasted by mistake.
func ParseRecipients(text []byte) ([]age.Recipient, error) {
	var rs []age.Recipient
	n := 0
	for line := range strings.Lines(string(text)) {
		n++
		if line = strings.TrimSpace(line); strings.HasPrefix(line, "#") {
			continue
		}
		for _, tok := range strings.FieldsFunc(line, func(r rune) bool {
			return r == ',' || r == ' ' || r == '\t'
		}) {
			var r age.Recipient
			var err error
			switch {
			case strings.HasPrefix(tok, "age1pq1"):
				r, err = age.ParseHybridRecipient(tok)
			case strings.HasPrefix(tok, "age1"):
				r, err = age.ParseX25519Recipient(tok)
			case strings.HasPrefix(strings.ToUpper(tok), "AGE-SECRET-KEY-"):
				err = errors.New("that is an age secret key, not a recipient: pass its public key (age-keygen -y KEYFILE)")
			default:
				err = errors.New("not an age recipient (an age public key starts with age1; symmetric keys are not supported)")
			}
			if err != nil {
				if strings.HasPrefix(tok, "age1") {
					err = fmt.Errorf("%q is not a valid age recipient: %v", tok, err)
				}
				return nil, fmt.Errorf("%w: line %d: %v", ErrEscrowFormat, n, err)
			}
			rs = append(rs, r)
		}
	}
	if len(rs) == 0 {
		return nil, fmt.Errorf("%w: no age recipients given", ErrEscrowFormat)
	}
	return rs, nil
}

// ReadIdentityFile reads age identities (secret keys, as age-keygen
// writes them) from the file at path, refusing, as for a key file, one
// that group or others can access ([ErrInsecureKeyFile]; not checked on
// Windows). Its errors never quote the file's content.
func ReadIdentityFile(path string) ([]age.Identity, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keyring: read identity file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("keyring: read identity file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: identity file %s is not a regular file", ErrEscrowFormat, path)
	}
	if err := checkKeyFilePerm(path, fi.Mode()); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, 1<<20))
	defer clear(data)
	if err != nil {
		return nil, fmt.Errorf("keyring: read identity file: %w", err)
	}
	return parseIdentities(data)
}

// parseIdentities parses age secret keys in identity-file format,
// tolerating CRLF line ends and surrounding white space.
func parseIdentities(text []byte) ([]age.Identity, error) {
	norm := make([]byte, 0, len(text))
	for line := range bytes.Lines(text) {
		norm = append(norm, bytes.TrimSpace(line)...)
		norm = append(norm, '\n')
	}
	defer clear(norm)
	ids, err := age.ParseIdentities(bytes.NewReader(norm))
	if err != nil {
		return nil, fmt.Errorf("keyring: not an age identity file: %w", err)
	}
	return ids, nil
}
