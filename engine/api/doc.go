// Package api is the contract of cadang's daemon API: the request and answer types
// (wire types) and the Go client. The CLI, the e2e tests and portal clients depend on
// this package only, never on the catalog's records: the engine maps its state to these
// types in one place (engine/wire.go), and a golden JSON test per endpoint
// (engine/wire_test.go) keeps a change of storage from changing the wire format
// silently.
//
// It imports nothing of cadang.
package api
