package engine

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/server"
)

// The OpenAPI document: valid OpenAPI 3.1 (kin-openapi), one operation for every route
// of the API and no other, and real answers of the daemon validate against it.
func TestOpenAPIDocument(t *testing.T) {
	d, _ := startedDaemon(t, twoAgencies)
	h := d.handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/openapi.json", nil))
	if rec.Code != 200 {
		t.Fatalf("GET /v1/openapi.json: %d", rec.Code)
	}
	ctx := context.Background()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(rec.Body.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !doc.IsOpenAPI31OrLater() || doc.IsOpenAPI32OrLater() {
		t.Errorf("openapi %q, want 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(ctx); err != nil {
		t.Fatalf("the document does not validate: %v", err)
	}
	var documented []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	for _, r := range server.Routes() {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is not in the OpenAPI document", r)
		}
	}
	for _, r := range documented {
		if !slices.Contains(server.Routes(), r) {
			t.Errorf("the OpenAPI document has %s, which the API does not serve", r)
		}
	}

	// A request of each kind, one of them approved and one with a bundle, for the
	// requests' answers below.
	now := d.now()
	reqs := []*catalog.Request{
		{Kind: catalog.RequestRestore, Agency: "dinkes", Target: "sehat", Requester: "token:a", RequesterRole: "agency-requester",
			Snapshot: strings.Repeat("a", 64), DRC: "local", To: "/srv/restore/x", Approvers: []string{"agency-admin", "operator"},
			Status: catalog.RequestPending, Created: now, Expires: now.Add(time.Hour)},
		{Kind: catalog.RequestExport, Agency: "dinkes", Target: "sehat", Requester: "token:a", RequesterRole: "agency-requester",
			Snapshot: strings.Repeat("b", 64), DRC: "local", Recipients: []string{"age1x"}, Approvers: []string{"operator"},
			Decisions: []catalog.Decision{{By: "uid:0", Role: "operator", Approve: true, Time: now}},
			Status:    catalog.RequestApproved, Created: now, Expires: now.Add(time.Hour), Decided: now,
			Bundle: &catalog.Bundle{DRC: "local", Object: "_exports/dinkes/2.tar.zst.age", Bytes: 10, SHA256: strings.Repeat("c", 64),
				Ready: now, Expires: now.Add(time.Hour), Downloads: []catalog.Download{{Time: now, By: "token:a", Role: "agency-requester"}}}},
	}
	for _, r := range reqs {
		if err := d.cat.AddRequest(r); err != nil {
			t.Fatal(err)
		}
	}

	// Real answers validate against the document.
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/v1/status", ""},
		{"GET", "/v1/targets", ""},
		{"POST", "/v1/backups", `{"target":"sehat"}`},
		{"GET", "/v1/runs?limit=5", ""},
		{"GET", "/v1/runs/1", ""},
		{"POST", "/v1/backups", `{"target":"tidak-ada"}`},
		{"GET", "/v1/drcs", ""},
		{"GET", "/v1/audit", ""},
		{"GET", "/v1/audit/verify", ""},
		{"GET", "/v1/schedule?hours=24", ""},
		{"GET", "/v1/alarms", ""},
		{"GET", "/v1/requests", ""},
		{"GET", "/v1/requests/2", ""},
		{"GET", "/v1/requests/999", ""},
		{"POST", "/v1/requests/1/reject", `{"comment":"tidak sesuai"}`},
		{"POST", "/v1/requests/1/approve", `{}`},
		{"POST", "/v1/exports", `{"target":"sehat","recipients":["age1x"]}`},
		{"GET", "/v1/exports/2/download", ""},
		{"GET", "/v1/state", ""},
	} {
		req := httptest.NewRequest(c.method, "http://cadang"+c.path, strings.NewReader(c.body))
		if c.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(c.method, c.path, strings.NewReader(c.body)))
		route, params, err := router.FindRoute(req)
		if err != nil {
			t.Errorf("%s %s: %v", c.method, c.path, err)
			continue
		}
		in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
		out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: rec.Code, Header: rec.Header(),
			Body: io.NopCloser(strings.NewReader(rec.Body.String()))}
		if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
			t.Errorf("%s %s: the answer (%d) does not match the document: %v", c.method, c.path, rec.Code, err)
		}
	}
	_ = http.StatusOK
}
