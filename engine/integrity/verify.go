package integrity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/queue"
	"github.com/cadang/cadang/internal/oneline"
)

// Verifier checks the copies of the agencies' repositories at the DRCs.
type Verifier struct {
	Sites   []*drc.Site // every DRC, the primary first
	Catalog *catalog.Catalog
	Now     func() time.Time
	// OnDamage is called once per agency whose repository at the DRC has objects
	// recorded as damaged by this run (their repair is queued).
	OnDamage func(drc, agency string)
}

// Run is a verify run: it runs `restic check` at the DRC for each agency, compares the DRC's objects
// with every other DRC's (missing, extra, different), and with read_data hashes every
// object there. Differences explained by replication (the primary's newest objects
// not copied yet, deletions waiting for delete_after) are reported but are not
// problems; a failed check or a damaged object is.
func (v *Verifier) Run(ctx context.Context, j *queue.Job, site *drc.Site, agencies []string, readData bool) error {
	r := j.Run
	if err := site.Check(ctx); err != nil {
		return err
	}
	rep := api.VerifyReport{DRC: site.Name, ReadData: readData}
	for _, agency := range agencies {
		repo := site.Repo(agency)
		if ok, err := repo.Exists(ctx); err != nil {
			return err
		} else if !ok {
			continue
		}
		av := api.AgencyVerify{Agency: agency, Check: "ok"}
		j.SetProgress(func(p *api.Progress) { p.Phase = "comparing objects " + agency })
		here, err := listObjects(ctx, repo.Store)
		if err != nil {
			return fmt.Errorf("drc %q: %w", site.Name, err)
		}
		for _, size := range here {
			av.Objects++
			av.Bytes += size
		}
		av.KeyProblem = hashCheck(ctx, repo.Store, "keys/", nil)
		rep.Problems += len(av.KeyProblem)
		if readData {
			j.SetProgress(func(p *api.Progress) { p.Phase = "reading every object " + agency; p.TotalFiles = uint64(av.Objects) })
			av.Corrupt = hashCheck(ctx, repo.Store, "", here)
			rep.Problems += len(av.Corrupt)
			v.recordDamage(site.Name, agency, r.ID, av.Corrupt)
		}
		// cadang's own read comes first: it finds damaged objects in bounded time.
		// restic check --read-data would read them again, and on an object the store
		// cannot read it retries for many minutes: with damage found, restic checks
		// the structure only, and the repair (queued) comes first.
		resticReadData := readData && len(av.Corrupt) == 0
		if readData && !resticReadData {
			av.Note = fmt.Sprintf("restic check without --read-data: %d damaged object(s) found first; their repair is queued", len(av.Corrupt))
		}
		j.SetProgress(func(p *api.Progress) { p.Phase = "restic check " + agency })
		if _, err := repo.ResticCheck(ctx, resticReadData); err != nil {
			if ctx.Err() != nil {
				return err
			}
			av.Check = oneline.Of(err.Error())
			rep.Problems++
		}
		for _, other := range v.Sites {
			if other == site {
				continue
			}
			sc := v.compareSites(ctx, site, other, agency, here)
			rep.Problems += sc.SizeDiffers
			if !sc.SameConfig && sc.Error == "" {
				rep.Problems++
			}
			av.Compared = append(av.Compared, sc)
		}
		rep.Agencies = append(rep.Agencies, av)
	}
	b, _ := json.Marshal(rep)
	r.Manifest = b
	if rep.Problems > 0 {
		return fmt.Errorf("drc %q: %d problem(s) found (see the run's report)", site.Name, rep.Problems)
	}
	return ctx.Err()
}

// recordDamage records the damaged objects hashCheck found ("name: why").
func (v *Verifier) recordDamage(drcName, agency string, run uint64, bad []string) {
	if len(bad) == 0 {
		return
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	for _, b := range bad {
		obj, why, _ := strings.Cut(b, ": ")
		if _, _, err := v.Catalog.RecordDamage(catalog.Damage{DRC: drcName, Agency: agency, Object: obj, How: "verify", Run: run, Message: why}, now()); err != nil {
			return
		}
	}
	if v.OnDamage != nil {
		v.OnDamage(drcName, agency)
	}
}

// listObjects lists the replicated objects of a repository (data, index, snapshots).
func listObjects(ctx context.Context, st drc.Store) (map[string]int64, error) {
	out := map[string]int64{}
	for _, prefix := range []string{"data/", "index/", "snapshots/"} {
		if err := st.List(ctx, prefix, func(o drc.ObjectInfo) error {
			out[o.Name] = o.Size
			return nil
		}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// hashCheck reads objects (those listed under prefix, or the given ones) and returns
// those whose content does not hash to their name, with why.
func hashCheck(ctx context.Context, st drc.Store, prefix string, objs map[string]int64) []string {
	var names []string
	if objs == nil {
		_ = st.List(ctx, prefix, func(o drc.ObjectInfo) error {
			names = append(names, o.Name)
			return nil
		})
	} else {
		for n := range objs {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var mu sync.Mutex
	var bad []string
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for _, name := range names {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			why := ""
			rc, err := st.Get(ctx, name)
			if err != nil {
				why = err.Error()
			} else {
				h := sha256.New()
				_, err = io.Copy(h, rc)
				rc.Close()
				if err != nil {
					why = err.Error()
				} else if got := hex.EncodeToString(h.Sum(nil)); !strings.HasSuffix(name, "/"+got) {
					why = "content does not match its name (SHA-256 " + got[:12] + "…)"
				}
			}
			if why != "" && ctx.Err() == nil {
				mu.Lock()
				bad = append(bad, name+": "+oneline.Of(why))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	sort.Strings(bad)
	return bad
}

func (v *Verifier) compareSites(ctx context.Context, site, other *drc.Site, agency string, here map[string]int64) api.SiteCompare {
	sc := api.SiteCompare{With: other.Name}
	if err := other.Check(ctx); err != nil {
		sc.Error = oneline.Of(err.Error())
		return sc
	}
	orepo := other.Repo(agency)
	there, err := listObjects(ctx, orepo.Store)
	if err != nil {
		sc.Error = oneline.Of(fmt.Sprintf("drc %q: %v", other.Name, err))
		return sc
	}
	c1, e1 := readAll(ctx, site.Repo(agency).Store, "config")
	c2, e2 := readAll(ctx, orepo.Store, "config")
	sc.SameConfig = e1 == nil && e2 == nil && string(c1) == string(c2)
	// Deletions waiting at whichever of the two is the secondary.
	pending := map[string]time.Time{}
	for _, s := range []*drc.Site{site, other} {
		if s.Role == drc.RoleSecondary {
			p, _ := v.Catalog.PendingDeletions(s.Name, agency)
			for k, v := range p {
				pending[k] = v
			}
		}
	}
	example := func(list *[]string, name string) {
		if len(*list) < 10 {
			*list = append(*list, name)
		}
	}
	for name, size := range there {
		hs, ok := here[name]
		switch {
		case !ok:
			sc.Missing++
			example(&sc.MissingExamples, name)
			if _, p := pending[name]; p {
				sc.PendingDeletion++
			}
		case hs != size:
			sc.SizeDiffers++
			example(&sc.DiffersExamples, name)
		}
	}
	for name := range here {
		if _, ok := there[name]; !ok {
			sc.Extra++
			example(&sc.ExtraExamples, name)
			if _, p := pending[name]; p {
				sc.PendingDeletion++
			}
		}
	}
	sort.Strings(sc.MissingExamples)
	sort.Strings(sc.ExtraExamples)
	sc.NotYetReplicated = sc.Missing > 0 && site.Role == drc.RoleSecondary && other.Role == drc.RolePrimary
	return sc
}

func readAll(ctx context.Context, st drc.Store, name string) ([]byte, error) {
	rc, err := st.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}
