package host

import "github.com/gofastr/store/internal/sqldb"

// WriteV6Store creates an empty session store at path of schema version 6,
// the last before store IDs, as that version of this package did.
func WriteV6Store(path string) error {
	db, err := sqldb.Open(path, &sqldb.Schema{AppID: applicationID, Migrations: migrations[:6], Counters: schema.Counters}, sqldb.Options{})
	if err != nil {
		return err
	}
	return db.Close()
}
