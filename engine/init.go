package engine

import (
	"context"
	"log/slog"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine/config"
)

// Init creates every agency's repository at every DRC where it is missing (see
// drc.Ensure); it is safe to run any number of times, with or without a daemon.
func Init(ctx context.Context, cfg *config.Config, log *slog.Logger) ([]drc.InitResult, error) {
	_, sites, err := Sites(cfg, log)
	if err != nil {
		return nil, err
	}
	var out []drc.InitResult
	for _, a := range cfg.Agencies {
		out = append(out, drc.Ensure(ctx, sites, a.ID)...)
	}
	return out, nil
}
