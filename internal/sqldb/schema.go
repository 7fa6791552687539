package sqldb

import (
	"fmt"

	"github.com/ncruces/go-sqlite3"
)

// checkStore returns the schema version of the database in c (0 for an
// empty database), or an error if c holds something else or a newer
// schema. It only reads, and reads application_id, user_version and the
// schema in one read transaction (or in the caller's transaction, if one
// is open), so a database another process is creating at the same moment
// is seen either empty or complete, never half-made.
func checkStore(c *sqlite3.Conn, s *Schema) (_ int, err error) {
	if c.GetAutocommit() {
		if err := c.Exec("BEGIN"); err != nil {
			return 0, err
		}
		defer func() {
			if cerr := c.Exec("COMMIT"); err == nil && cerr != nil {
				err = cerr
			}
		}()
	}
	return readVersion(c, s)
}

func readVersion(c *sqlite3.Conn, s *Schema) (int, error) {
	app, err := QueryInt(c, "PRAGMA application_id")
	if err != nil {
		return 0, err
	}
	version, err := QueryInt(c, "PRAGMA user_version")
	if err != nil {
		return 0, err
	}
	switch {
	case app == 0:
		n, err := QueryInt(c, "SELECT count(*) FROM sqlite_schema")
		if err != nil {
			return 0, err
		}
		if n != 0 || version != 0 {
			return 0, ErrNotStore
		}
	case app != int64(s.AppID):
		return 0, ErrNotStore
	case version > int64(s.Version()):
		return 0, fmt.Errorf("%w: file has version %d, this build supports up to %d", ErrNewerSchema, version, s.Version())
	}
	return int(version), nil
}

// migrate checks that c holds a database of schema s (or an empty
// database) and applies the missing migrations. The check and the
// migrations are one write transaction (BEGIN IMMEDIATE, waiting up to the
// connection's busy timeout for the write lock): processes that open a new
// database at the same moment take turns, the first creates the schema and
// the others re-read application_id and user_version inside their own
// transaction and find the schema complete. Nothing is written to a file
// of another schema or a newer version. A database that is already
// current is recognized in a read transaction, without waiting for the
// write lock (a committed schema version never goes back).
func migrate(c *sqlite3.Conn, s *Schema) (err error) {
	if version, err := checkStore(c, s); err != nil || version == s.Version() {
		return err
	}
	if err := c.Exec("BEGIN IMMEDIATE"); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			c.Exec("ROLLBACK")
		}
	}()
	version, err := checkStore(c, s)
	if err != nil {
		return err
	}
	for v := version; v < s.Version(); v++ {
		if err := c.Exec(s.Migrations[v]); err != nil {
			return fmt.Errorf("migrate schema to version %d: %w", v+1, err)
		}
	}
	if version < s.Version() {
		err = c.Exec(fmt.Sprintf("PRAGMA application_id=%d; PRAGMA user_version=%d", s.AppID, s.Version()))
		if err != nil {
			return fmt.Errorf("migrate schema: %w", err)
		}
	}
	if err := c.Exec("COMMIT"); err != nil {
		return fmt.Errorf("migrate schema: %w", err)
	}
	return nil
}

// QueryInt runs a query that returns one integer, with positional
// arguments as [Bind] takes them. A query that returns no row returns 0.
func QueryInt(c *sqlite3.Conn, query string, args ...any) (int64, error) {
	st, _, err := c.Prepare(query)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	if err := Bind(st, args...); err != nil {
		return 0, err
	}
	if !st.Step() {
		return 0, st.Err()
	}
	return st.ColumnInt64(0), st.Err()
}

// Bind binds positional arguments to st, from parameter 1 on: nil (NULL),
// int, int64, uint64 (as its int64 bits), float64, string, []byte (a nil
// slice is NULL) and bool. Another type is an error wrapping
// [ErrInvalidArgument].
func Bind(st *sqlite3.Stmt, args ...any) error {
	for i, a := range args {
		var err error
		switch v := a.(type) {
		case nil:
			err = st.BindNull(i + 1)
		case int:
			err = st.BindInt64(i+1, int64(v))
		case int64:
			err = st.BindInt64(i+1, v)
		case uint64:
			err = st.BindInt64(i+1, int64(v))
		case float64:
			err = st.BindFloat(i+1, v)
		case string:
			err = st.BindText(i+1, v)
		case []byte:
			if v == nil {
				err = st.BindNull(i + 1)
			} else {
				err = st.BindBlob(i+1, v)
			}
		case bool:
			err = st.BindBool(i+1, v)
		default:
			err = fmt.Errorf("%w: argument %d has unsupported type %T", ErrInvalidArgument, i+1, a)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
