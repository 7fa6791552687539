// Package abi defines the vocabulary shared by the gofastr store host and
// the sandboxed guest modules it runs: the data types that cross the
// host/guest boundary (sessions, events, tool intents and outcomes, provider
// attempts and their costs, session summaries) and the constants that name their variants.
//
// The package is deliberately small and dependency-free. It imports only the
// standard library, builds both natively and for GOOS=wasip1 GOARCH=wasm, and
// holds no mutable exported state: everything exported is a type, a method
// or a constant. Behaviour (storing, redacting, compressing, serving guests)
// lives in package host; abi only says what the values mean.
//
// # Compatibility
//
// These types are part of the ABI seen by guests. Fields may be added; the
// meaning of an existing field or constant never changes within one ABI major
// version. The JSON field names given by the struct tags are part of that
// contract and use snake_case.
//
// # Threat model
//
// Values of these types are untrusted when they come from a guest. Payloads
// ([EventEnvelope.Payload], [ToolIntent.Args], [ToolOutcome.Result]) are
// raw JSON supplied by the harness; the host redacts secrets from them before
// they are stored, so a value read back from a store may differ from the value
// that was appended. No type here ever carries key material.
package abi
