package zai

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/gofastr/store/billing"
)

// FuzzParse feeds arbitrary bodies to the envelope, quota and subscription
// parsers: no panic, and every failure is ErrMalformed or an error code.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"code":200,"success":true,"data":{"limits":[{"type":"TOKENS_LIMIT","unit":3,"number":5,"usage":800,"currentValue":1,"nextResetTime":1770648402389}]}}`,
		`{"code":200,"success":true,"data":[{"id":"1","actualPrice":30.0,"initialPrice":30}]}`,
		`{"code":401,"msg":"x","success":false}`,
		`{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ok := func(err error) {
			var ce codeError
			if err != nil && !errors.Is(err, billing.ErrMalformed) && !errors.As(err, &ce) {
				t.Fatal(err)
			}
		}
		var e envelope
		if err := billing.DecodeJSON(body, &e); err != nil {
			ok(err)
			return
		}
		if err := e.check(); err != nil {
			ok(err)
			return
		}
		var q quotaData
		if err := billing.DecodeJSON(e.Data, &q); err == nil {
			_, err = q.limits()
			ok(err)
		}
		var list []subscription
		if err := billing.DecodeJSON(e.Data, &list); err == nil {
			_, err = subscriptions(list)
			ok(err)
		}
		_ = json.Valid(body)
	})
}
