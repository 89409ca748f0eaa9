package drc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"
)

// InitResult says what Ensure did for one agency at one DRC.
type InitResult struct {
	DRC    string `json:"drc"`
	Agency string `json:"agency"`
	Action string `json:"action"` // exists, created, seeded, failed
	From   string `json:"from,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Ensure makes agency's repository exist at every site; it is safe to run any number
// of times. If no site holds the repository, it is created with `restic init` at the
// first site that can be used (give the primary first). Every other site is seeded
// from a site that holds it, so that all sites hold the SAME repository (same config
// and master key: the off-site copy is an object-level mirror), while each site opens
// it with its own password:
//
//  1. a key for the new site's password is added at the source (`restic key add`);
//  2. that key object, then the config object, are copied to the new site (the config
//     last: a repository without it does not exist, so an interrupted seed is redone);
//  3. the new site is opened with its password, then the extra key is removed from
//     the source.
//
// A site that holds a different repository (another config) is an error, never
// overwritten.
func Ensure(ctx context.Context, sites []*Site, agency string) []InitResult {
	results := make([]InitResult, len(sites))
	exists := make([]bool, len(sites))
	usable := make([]bool, len(sites))
	for i, s := range sites {
		results[i] = InitResult{DRC: s.Name, Agency: agency}
		if err := s.prepare(ctx); err != nil {
			results[i].fail(err)
			continue
		}
		ok, err := s.Repo(agency).Exists(ctx)
		if err != nil {
			results[i].fail(err)
			continue
		}
		usable[i], exists[i] = true, ok
	}

	src := -1
	for i := range sites {
		if usable[i] && exists[i] {
			src = i
			break
		}
	}
	if src < 0 {
		for i := range sites {
			if !usable[i] {
				continue
			}
			if err := create(ctx, sites[i], agency); err != nil {
				results[i].fail(err)
				return results
			}
			src, exists[i] = i, true
			results[i].Action = "created"
			break
		}
	}
	if src < 0 {
		return results
	}
	srcRepo := sites[src].Repo(agency)
	srcConfig, err := ReadObject(ctx, srcRepo.Store, "config")
	if err != nil {
		results[src].fail(fmt.Errorf("drc %q: %w", sites[src].Name, err))
		return results
	}

	for i, s := range sites {
		if !usable[i] {
			continue
		}
		if !exists[i] {
			if err := seed(ctx, srcRepo, s, agency); err != nil {
				results[i].fail(err)
				continue
			}
			results[i].Action, results[i].From = "seeded", sites[src].Name
			continue
		}
		if err := checkExisting(ctx, s, agency, srcConfig, sites[src].Name); err != nil {
			results[i].fail(err)
			continue
		}
		if results[i].Action == "" {
			results[i].Action = "exists"
		}
	}
	return results
}

func (r *InitResult) fail(err error) {
	r.Action, r.Error = "failed", err.Error()
}

func create(ctx context.Context, s *Site, agency string) error {
	if _, err := s.ensurePassword(agency); err != nil {
		return fmt.Errorf("drc %q: password file: %w", s.Name, err)
	}
	repo := s.Repo(agency)
	if err := repo.Init(ctx); err != nil {
		return err
	}
	// restic wrote config and keys/ itself, without retention: lock them now.
	return lockBase(ctx, repo)
}

// lockBase puts an immutable DRC's repository config and keys under retention.
func lockBase(ctx context.Context, repo *Repo) error {
	period := LockPeriodOf(repo.Store)
	if period == 0 {
		return nil
	}
	names := []string{"config"}
	if err := repo.Store.List(ctx, "keys/", func(o ObjectInfo) error {
		names = append(names, o.Name)
		return nil
	}); err != nil {
		return fmt.Errorf("drc %q: %w", repo.DRC, err)
	}
	until := time.Now().Add(period)
	for _, n := range names {
		if _, err := ExtendRetention(ctx, repo.Store, n, until); err != nil {
			return fmt.Errorf("drc %q: agency %q: %w", repo.DRC, repo.Agency, err)
		}
	}
	return nil
}

// checkExisting verifies that a site's repository is the same repository as the
// source's and that this site's password opens it.
func checkExisting(ctx context.Context, s *Site, agency string, srcConfig []byte, srcName string) error {
	repo := s.Repo(agency)
	cfg, err := ReadObject(ctx, repo.Store, "config")
	if err != nil {
		return fmt.Errorf("drc %q: %w", s.Name, err)
	}
	if !bytes.Equal(cfg, srcConfig) {
		return fmt.Errorf("drc %q holds a different repository for agency %q than drc %q (their config objects differ); cadang will not touch it", s.Name, agency, srcName)
	}
	if !s.hasPassword(agency) {
		return fmt.Errorf("drc %q: the repository of agency %q exists but its password file %s is missing: restore it from your key escrow", s.Name, agency, s.passwordFile(agency))
	}
	return repo.Open(ctx)
}

func seed(ctx context.Context, src *Repo, dst *Site, agency string) error {
	pw, err := dst.ensurePassword(agency)
	if err != nil {
		return fmt.Errorf("drc %q: password file: %w", dst.Name, err)
	}
	// A key for pw may exist at the source from an interrupted seed: reuse it.
	keyID, err := src.currentKey(ctx, pw)
	if errors.Is(err, ErrWrongPassword) {
		if err := src.addKey(ctx, pw); err != nil {
			return err
		}
		keyID, err = src.currentKey(ctx, pw)
	}
	if err != nil {
		return err
	}
	dstRepo := dst.Repo(agency)
	for _, name := range []string{"keys/" + keyID, "config"} {
		if err := copyObject(ctx, src.Store, dstRepo.Store, name); err != nil {
			return fmt.Errorf("seeding drc %q from drc %q: %s: %w", dst.Name, src.DRC, name, err)
		}
	}
	if err := dstRepo.Open(ctx); err != nil {
		return err
	}
	if err := src.removeKey(ctx, keyID); err != nil {
		src.site.restic.Logger.Warn("could not remove the seeding key from the source; it is harmless but opens the source with the new site's password",
			"drc", src.DRC, "agency", agency, "key", keyID, "err", err)
		return nil
	}
	// On a versioned bucket (every immutable DRC) restic's removal left a delete marker
	// above the key, which drc status would report as hidden: remove its versions.
	if err := dropVersions(ctx, src.Store, "keys/"+keyID); err != nil {
		src.site.restic.Logger.Warn("the seeding key removed from the source is kept behind a delete marker (drc status reports it hidden; it opens the source with the new site's password)",
			"drc", src.DRC, "agency", agency, "key", keyID, "err", err)
	}
	return nil
}

// copyObject copies one object between stores.
func copyObject(ctx context.Context, from, to Store, name string) error {
	info, err := from.Stat(ctx, name)
	if err != nil {
		return err
	}
	rc, err := from.Get(ctx, name)
	if err != nil {
		return err
	}
	defer rc.Close()
	return to.Put(ctx, name, rc, info.Size)
}
