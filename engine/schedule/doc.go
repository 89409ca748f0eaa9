// Package schedule turns a configuration's cron schedules (target backups and drills,
// DRC prunes and checks) into due slots: a heap ordered by due time, a fixed jitter per
// target, catch-up of slots missed while the daemon was down, and the plan of the
// coming hours. It decides when, not what: the engine turns a due slot into runs.
//
// It imports engine/config, engine/catalog (the stored schedule states) and engine/api
// (the planned runs it lists); it must not import engine, drc or targets.
package schedule
