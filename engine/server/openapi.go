package server

import (
	"encoding/json"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/cadang/cadang/engine/api"
)

// The OpenAPI 3.1 document of the API (GET /v1/openapi.json). It is made from routeDocs
// and the Go types of engine/api, by reflection, so it cannot drift from the wire
// types; a test fails when a route of New is missing here, or the reverse, and
// kin-openapi validates the document and real answers against it.

type routeDoc struct {
	summary  string
	query    []string // query parameters (strings)
	request  any      // the JSON body's type (a zero value), or nil
	response any      // the JSON answer's type (a zero value), or nil for a non-JSON answer
	alt      any      // another type the answer may have (oneOf), or nil
	status   int      // the success status
	produces string   // content type of a non-JSON answer
}

var routeDocs = map[string]routeDoc{
	"GET /v1/status":                      {summary: "The daemon, its queue, every target's state, problems", response: api.Status{}, status: 200},
	"GET /v1/targets":                     {summary: "Configured targets (an agency's own, for an agency principal)", response: []api.TargetInfo{}, status: 200},
	"POST /v1/backups":                    {summary: "Back up a target now: the queued run", request: api.BackupRequest{}, response: api.RunInfo{}, status: 202},
	"POST /v1/restores":                   {summary: "Restore a snapshot: the queued run (operator), or a pending request (an agency: it runs once approved)", request: api.RestoreRequest{}, response: api.RunInfo{}, alt: api.Request{}, status: 202},
	"GET /v1/requests":                    {summary: "Restore and export requests, newest first (an agency's own, for an agency principal)", query: []string{"agency", "status"}, response: []api.Request{}, status: 200},
	"POST /v1/exports":                    {summary: "Ask for an export (agencies): a pending request; once approved, a bundle encrypted to the recipients' age keys", request: api.ExportRequest{}, response: api.Request{}, status: 202},
	"GET /v1/exports/{id}/download":       {summary: "Download an export's encrypted bundle (its agency's principals): the hand-over (410 once expired or used)", status: 200, produces: "application/octet-stream"},
	"GET /v1/exports/{id}/handover":       {summary: "An export's hand-over report (Berita Acara Serah Terima Data)", query: []string{"format", "lang"}, status: 200, produces: "application/pdf"},
	"GET /v1/requests/{id}":               {summary: "One request, with its decisions and its run", response: api.Request{}, status: 200},
	"POST /v1/requests/{id}/approve":      {summary: "Approve a request (an approver it waits for; never its requester)", request: api.DecisionRequest{}, response: api.Request{}, status: 200},
	"POST /v1/requests/{id}/reject":       {summary: "Reject a request, or withdraw one's own (a comment says why)", request: api.DecisionRequest{}, response: api.Request{}, status: 200},
	"GET /v1/runs":                        {summary: "Runs, newest first (an agency's own, for an agency principal)", query: []string{"target", "agency", "limit"}, response: []api.RunInfo{}, status: 200},
	"GET /v1/runs/{id}":                   {summary: "One run, with live progress while it runs", response: api.RunInfo{}, status: 200},
	"POST /v1/runs/{id}/cancel":           {summary: "Cancel a queued or running run", response: api.CancelAnswer{}, status: 202},
	"GET /v1/snapshots":                   {summary: "A target's snapshots at every DRC (the ledger), or at one DRC", query: []string{"target", "drc"}, response: []api.SnapshotInfo{}, status: 200},
	"GET /v1/ls":                          {summary: "One folder of a snapshot (a read of data)", query: []string{"target", "snapshot", "drc", "path"}, response: api.Listing{}, status: 200},
	"GET /v1/schedule":                    {summary: "Planned runs and maintenance windows of the next hours", query: []string{"hours"}, response: api.ScheduleAnswer{}, status: 200},
	"POST /v1/forget":                     {summary: "Apply a target's retention now", request: api.ForgetRequest{}, response: api.RunInfo{}, status: 202},
	"POST /v1/prune":                      {summary: "restic prune, per agency repository", request: api.MaintenanceRequest{}, response: []api.RunInfo{}, status: 202},
	"POST /v1/check":                      {summary: "restic check, per agency repository", request: api.MaintenanceRequest{}, response: []api.RunInfo{}, status: 202},
	"POST /v1/unlock":                     {summary: "Remove stale restic locks", request: api.UnlockRequest{}, response: []api.RunInfo{}, status: 202},
	"POST /v1/restic":                     {summary: "A restic hand run (operator)", request: api.ResticRequest{}, response: api.RunInfo{}, status: 202},
	"POST /v1/reload":                     {summary: "Re-read the configuration file", response: api.ReloadAnswer{}, status: 200},
	"GET /v1/drcs":                        {summary: "Every DRC: health, replication lag, pending work, alarms", response: []api.DRCStatus{}, status: 200},
	"POST /v1/replicate":                  {summary: "Replication passes now", request: api.ReplicateRequest{}, response: []api.RunInfo{}, status: 202},
	"POST /v1/verify":                     {summary: "Verify a DRC's copies", request: api.VerifyRequest{}, response: api.RunInfo{}, status: 202},
	"GET /v1/alarms":                      {summary: "Alarms, newest first", query: []string{"all"}, response: []api.Alarm{}, status: 200},
	"GET /v1/damage":                      {summary: "Damaged objects at the DRCs, newest first", query: []string{"all", "drc", "agency"}, response: []api.Damage{}, status: 200},
	"POST /v1/repair":                     {summary: "Repair damaged objects from the other DRC", request: api.RepairRequest{}, response: []api.RunInfo{}, status: 202},
	"POST /v1/recover":                    {summary: "Make objects hidden behind S3 delete markers visible again", request: api.RecoverRequest{}, response: []api.RunInfo{}, status: 202},
	"POST /v1/drills":                     {summary: "Restore drills now", request: api.DrillRequest{}, response: []api.RunInfo{}, status: 202},
	"GET /v1/reports/drill/{id}":          {summary: "A drill's report (Berita Acara)", query: []string{"format", "lang"}, status: 200, produces: "application/pdf"},
	"GET /v1/reports/period":              {summary: "The drills of a period", query: []string{"from", "to", "format", "lang"}, status: 200, produces: "application/pdf"},
	"GET /v1/reports/runbook/{id}":        {summary: "A runbook run's report (Berita Acara): steps, RTO per service, RPO, the runbook's hash", query: []string{"format", "lang"}, status: 200, produces: "application/pdf"},
	"GET /v1/runbooks":                    {summary: "Configured failover runbooks", response: []api.RunbookInfo{}, status: 200},
	"GET /v1/runbooks/{name}/plan":        {summary: "A runbook's dry run: every step, the snapshot and DRC it would use, ETA", query: []string{"mode"}, response: api.RunbookPlan{}, status: 200},
	"POST /v1/runbook-runs":               {summary: "Start a runbook run (test, or real with confirm = its name)", request: api.RunbookRunRequest{}, response: api.RunbookRun{}, status: 202},
	"GET /v1/runbook-runs/{id}":           {summary: "A runbook run with its steps' states", response: api.RunbookRun{}, status: 200},
	"POST /v1/runbook-runs/{id}/approve":  {summary: "Confirm a manual gate (a principal with its role)", request: api.RunbookApproveRequest{}, response: api.RunbookRun{}, status: 200},
	"POST /v1/runbook-runs/{id}/abort":    {summary: "Abort a runbook run (test mode: its undo runs)", response: api.RunbookRun{}, status: 200},
	"POST /v1/runbook-runs/{id}/continue": {summary: "Continue a halted runbook run from its failed step", response: api.RunbookRun{}, status: 200},
	"GET /v1/audit":                       {summary: "The audit log, newest first (an agency's own entries, for an agency principal)", query: []string{"agency", "since", "limit"}, response: []api.AuditEntry{}, status: 200},
	"GET /v1/audit/verify":                {summary: "Check the audit log's hash chain", response: api.AuditVerification{}, status: 200},
	"POST /v1/tokens":                     {summary: "Create an API token (unix socket only): its secret, once", request: api.TokenRequest{}, response: api.TokenCreated{}, status: 201},
	"GET /v1/tokens":                      {summary: "API tokens, without secrets", response: []api.TokenInfo{}, status: 200},
	"POST /v1/tokens/{name}/revoke":       {summary: "Revoke an API token", response: api.TokenInfo{}, status: 200},
	"POST /v1/notify/test":                {summary: "Send a test message on a notification channel (204: it took it)", request: api.NotifyTestRequest{}, status: 204},
	"GET /metrics":                        {summary: "Prometheus metrics: RPO per target and DRC, runs, queue, replication, alarms (operator, auditor)", status: 200, produces: "text/plain"},
	"GET /v1/state":                       {summary: "cadang's own state bundles at each DRC (state_protection)", response: api.StateStatus{}, status: 200},
	"GET /v1/openapi.json":                {summary: "This document", status: 200, produces: "application/json"},
	"POST /v1/takeover":                   {summary: "Promote this standby cadang to the primary (site loss)", request: api.TakeoverRequest{}, response: api.SiteStatus{}, status: 200},
	"POST /v1/handback":                   {summary: "Return the primary role to the site taken over", request: api.HandbackRequest{}, response: api.SiteStatus{}, status: 200},
}

// OpenAPI returns the API's OpenAPI 3.1 document.
func OpenAPI() []byte {
	g := &schemaGen{defs: map[string]any{}}
	paths := map[string]map[string]any{}
	errRef := g.schema(reflect.TypeFor[api.Error]())
	var patterns []string
	for p := range routeDocs {
		patterns = append(patterns, p)
	}
	sort.Strings(patterns)
	for _, pattern := range patterns {
		d := routeDocs[pattern]
		method, path, _ := strings.Cut(pattern, " ")
		op := map[string]any{
			"summary":     d.summary,
			"operationId": operationID(method, path),
		}
		var params []any
		for _, seg := range strings.Split(path, "/") {
			if strings.HasPrefix(seg, "{") {
				name := strings.Trim(seg, "{}")
				typ := "string"
				if name == "id" {
					typ = "integer"
				}
				params = append(params, map[string]any{"name": name, "in": "path", "required": true, "schema": map[string]any{"type": typ}})
			}
		}
		for _, q := range d.query {
			params = append(params, map[string]any{"name": q, "in": "query", "required": false, "schema": map[string]any{"type": "string"}})
		}
		params = append(params, map[string]any{"name": api.TicketHeader, "in": "header", "required": false,
			"description": "The E-Layanan ticket, kept in the audit log", "schema": map[string]any{"type": "string"}})
		op["parameters"] = params
		if d.request != nil {
			g.request = true
			body := g.schema(reflect.TypeOf(d.request))
			g.request = false
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
				"application/json": map[string]any{"schema": body}}}
		}
		ok := map[string]any{"description": http.StatusText(d.status)}
		switch {
		case d.response != nil && d.alt != nil:
			ok["content"] = map[string]any{"application/json": map[string]any{"schema": map[string]any{
				"oneOf": []any{g.schema(reflect.TypeOf(d.response)), g.schema(reflect.TypeOf(d.alt))}}}}
		case d.response != nil:
			ok["content"] = map[string]any{"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(d.response))}}
		case d.produces != "":
			ok["content"] = map[string]any{d.produces: map[string]any{"schema": map[string]any{}}}
		}
		errResp := func(why string) map[string]any {
			return map[string]any{"description": why, "content": map[string]any{"application/json": map[string]any{"schema": errRef}}}
		}
		op["responses"] = map[string]any{
			itoa(d.status): ok,
			"400":          errResp("The request cannot succeed as given"),
			"401":          errResp("No token, or one not accepted (code unauthenticated, invalid_token)"),
			"403":          errResp("The principal's role may not (code forbidden)"),
			"404":          errResp("No such object (another agency's is answered the same)"),
			"409":          errResp("The object's state forbids it (code conflict): a request decided already, a name taken"),
			"410":          errResp("Gone (code gone): an export's link that expired or served its one download"),
			"429":          errResp("Too many requests (code rate_limited, too_many_failures)"),
			"500":          errResp("The daemon failed"),
		}
		if paths[path] == nil {
			paths[path] = map[string]any{}
		}
		paths[path][strings.ToLower(method)] = op
	}
	doc := map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":   "cadang API",
			"version": "1",
			"description": "cadang's API: on the unix socket for the operator, and on the network (api.listen, TLS) for token holders. " +
				"Agency principals see only their own agency's objects; another agency's object is answered like one that does not exist. " +
				"Errors are one JSON shape with a stable code.",
		},
		"paths": paths,
		"components": map[string]any{
			"schemas":         g.defs,
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer"}},
		},
		"security": []any{map[string]any{"bearer": []any{}}},
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		panic(err) // maps of strings and slices: cannot fail
	}
	return b
}

func operationID(method, path string) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(method))
	for _, seg := range strings.Split(strings.TrimPrefix(path, "/v1/"), "/") {
		seg = strings.Trim(seg, "{}")
		for _, part := range strings.FieldsFunc(seg, func(r rune) bool { return r == '.' || r == '_' || r == '-' }) {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

// schemaGen makes JSON Schemas of Go types; named structs go to components/schemas.
type schemaGen struct {
	defs map[string]any
	// request: the schemas of request bodies say no field is required (the daemon
	// says what a request lacks, with the reason).
	request bool
}

var (
	timeType    = reflect.TypeFor[time.Time]()
	rawJSONType = reflect.TypeFor[json.RawMessage]()
)

func (g *schemaGen) schema(t reflect.Type) map[string]any {
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t == rawJSONType:
		return map[string]any{} // any JSON
	}
	switch t.Kind() {
	case reflect.Pointer:
		return nullable(g.schema(t.Elem()))
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "contentEncoding": "base64"}
		}
		return nullable(map[string]any{"type": "array", "items": g.schema(t.Elem())}) // a nil slice is null
	case reflect.Map:
		return nullable(map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem())})
	case reflect.Interface:
		return map[string]any{}
	case reflect.Struct:
		name := t.Name()
		if name != "" {
			if _, done := g.defs[name]; !done {
				g.defs[name] = map[string]any{} // a placeholder: recursive types end here
				g.defs[name] = g.object(t)
			}
			return map[string]any{"$ref": "#/components/schemas/" + name}
		}
		return g.object(t)
	}
	return map[string]any{}
}

// nullable lets a schema's value be null too (a nil slice, map or pointer), in
// OpenAPI 3.1's way: a type array, or anyOf with null for a reference.
func nullable(s map[string]any) map[string]any {
	switch typ := s["type"].(type) {
	case string:
		s["type"] = []string{typ, "null"}
		return s
	case nil:
		if _, ok := s["$ref"]; ok {
			return map[string]any{"anyOf": []any{s, map[string]any{"type": "null"}}}
		}
	}
	return s
}

// object is a struct's schema: its JSON fields (embedded structs' fields inlined);
// a field without omitempty/omitzero is required.
func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	var add func(t reflect.Type)
	add = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			if f.Anonymous && name == "" {
				ft := f.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					add(ft)
					continue
				}
			}
			if name == "" {
				name = f.Name
			}
			props[name] = g.schema(f.Type)
			optional := strings.Contains(opts, "omitempty") || strings.Contains(opts, "omitzero") || f.Type.Kind() == reflect.Pointer
			if !optional && !g.request {
				required = append(required, name)
			}
		}
	}
	add(t)
	out := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		sort.Strings(required)
		out["required"] = required
	}
	return out
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
