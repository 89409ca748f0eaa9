// Package config loads cadang.yaml strictly: unknown keys are errors, and the whole file
// is decoded and validated before anything is reported, so that every problem comes out
// at once as `file:line:col: subject: message`. The kind sections of targets (files:,
// postgres:, ...) are decoded into the config types their kinds register.
//
// It imports drc and targets for their config types; it must not import engine.
package config
