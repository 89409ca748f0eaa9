// Package dashboard is the daemon's web dashboard, served at / of the network API's
// listener (api.listen): a fleet view (tiles per agency, DRCs, queue, alarms), target
// pages (snapshots and the DRCs that hold them, runs, drills, an RPO/RTO trend chart, a
// "back up now" button), drills and their reports, restore and export requests, and
// the audit log. It is rendered on the server with html/template from the wire types of
// engine/api; its templates and style sheet are embedded (no build chain, no script).
// Pages are in Bahasa Indonesia by default, in English on request (?lang=en, kept in a
// cookie).
//
// It holds no rights of its own: every page is made of calls to the network API, made
// in-process with the signed-in user's own API token, so that authentication, roles,
// agency scoping, rate limits and the audit log are those of the API, in the one place
// they live (engine/server). An agency user sees its agency's objects only because the
// API answers it only those.
//
// It must not import the daemon (engine), engine/server or engine/catalog: like the
// CLI, it speaks engine/api.
package dashboard
