package engine

import (
	"errors"
	"fmt"
	"time"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/config"
	"github.com/cadang/cadang/engine/server"
)

// API tokens, as the operator manages them through the unix socket. The catalog keeps
// them (only a hash of each secret); the network listener's authentication finds them
// there with catalog.TokenBySecret.

const (
	// DefaultTokenLifetime is how long a token is valid when the request does not say.
	DefaultTokenLifetime = 90 * 24 * time.Hour
	// MaxTokenLifetime bounds it: no token is valid for ever.
	MaxTokenLifetime = 730 * 24 * time.Hour
)

func (s service) CreateToken(req api.TokenRequest) (api.TokenCreated, error) {
	d := s.d
	if err := d.passive(""); err != nil { // a standby's catalog is replaced by the next bundle
		return api.TokenCreated{}, wireErr(err)
	}
	life := DefaultTokenLifetime
	if req.Expires != "" {
		v, err := config.ParseDuration(req.Expires)
		switch {
		case err != nil:
			return api.TokenCreated{}, fmt.Errorf("%w: expires: %v", errBadRequest, err)
		case v <= 0:
			return api.TokenCreated{}, fmt.Errorf("%w: expires %q: give a duration from now (90d, 12h)", errBadRequest, req.Expires)
		case v > MaxTokenLifetime:
			return api.TokenCreated{}, fmt.Errorf("%w: expires %q: at most 730d (two years)", errBadRequest, req.Expires)
		}
		life = v
	}
	if req.Agency != "" && !d.conf().cfg.HasAgency(req.Agency) {
		return api.TokenCreated{}, fmt.Errorf("%w: unknown agency %q", errBadRequest, req.Agency)
	}
	now := d.now()
	secret, t, err := d.cat.CreateToken(req.Name, req.Role, req.Agency, now.Add(life), now)
	if err != nil {
		return api.TokenCreated{}, tokenErr(err)
	}
	d.log.Info("API token created", "token", t.Name, "role", t.Role, "agency", t.Agency, "expires", t.Expires)
	return api.TokenCreated{Token: secret, Name: t.Name, Role: t.Role, Agency: t.Agency, Created: t.Created, Expires: t.Expires}, nil
}

func (s service) Tokens() ([]api.TokenInfo, error) {
	ts, err := s.d.cat.Tokens()
	if err != nil {
		return nil, wireErr(err)
	}
	now := s.d.now()
	out := make([]api.TokenInfo, len(ts))
	for i, t := range ts {
		out[i] = apiToken(t, now)
	}
	return out, nil
}

func (s service) RevokeToken(name string) (api.TokenInfo, error) {
	d := s.d
	if err := d.passive(""); err != nil {
		return api.TokenInfo{}, wireErr(err)
	}
	now := d.now()
	if err := d.cat.RevokeToken(name, now); err != nil {
		return api.TokenInfo{}, tokenErr(err)
	}
	d.log.Info("API token revoked", "token", name)
	ts, err := d.cat.Tokens()
	if err != nil {
		return api.TokenInfo{}, wireErr(err)
	}
	for _, t := range ts {
		if t.Name == name {
			return apiToken(t, now), nil
		}
	}
	return api.TokenInfo{}, server.NotFound(fmt.Errorf("token %q: %w", name, catalog.ErrNotFound))
}

// tokenErr marks the catalog's refusals of a token with the status that answers them.
func tokenErr(err error) error {
	switch {
	case errors.Is(err, catalog.ErrTokenInvalid):
		return badRequest{err}
	case errors.Is(err, catalog.ErrTokenExists):
		return server.Conflict(err)
	}
	return wireErr(err)
}
