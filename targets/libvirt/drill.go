package libvirt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/cadang/cadang/targets"
	"github.com/cadang/cadang/targets/libvirt/domxml"
)

var _ targets.Driller = (*Target)(nil)

// agentWait bounds how long a drill waits for a restored guest's agent to answer.
const agentWait = 3 * time.Minute

// DrillSteps restores the disks into a folder of scratch_dir, checks each image with
// `qemu-img check`, compares a sample of blocks with the live disk if the domain still
// exists (drillLiveSample), defines an isolated domain on them (a new name and UUID, no
// network: see --define), starts it and requires it to stay running for
// drill.boot_seconds (and, when the domain has a guest agent channel, the agent to
// answer a ping), then destroys and undefines the domain and removes the disks.
func (t *Target) DrillSteps(r targets.Reader, env *targets.DrillEnv) []targets.DrillStep {
	name := strings.ReplaceAll(env.Name, "_", "-")
	dir := filepath.Join(t.cfg.scratchDir(), name)
	var defined bool
	return []targets.DrillStep{
		{Key: "restore", Title: "Restore the disks and define an isolated domain (no network)", TitleID: "Memulihkan disk dan mendefinisikan domain terisolasi (tanpa jaringan)",
			Run: func(ctx context.Context) (string, error) {
				if err := os.MkdirAll(t.cfg.scratchDir(), 0o711); err != nil {
					return "", fmt.Errorf("scratch dir: %w", err)
				}
				defined = true // from here on, clean-up looks for the domain
				if err := t.Restore(ctx, r, targets.RestoreRequest{To: dir, Options: map[string]string{"define": name}}); err != nil {
					return "", err
				}
				var total int64
				files, _ := filepath.Glob(filepath.Join(dir, "*.qcow2"))
				for _, f := range files {
					if st, err := os.Stat(f); err == nil {
						total += st.Size()
					}
				}
				env.Restored(total)
				return fmt.Sprintf("%d disk(s) restored to %s, domain %s defined", len(files), dir, name), nil
			}},
		{Key: "verify-disks", Title: "Check every restored disk image (qemu-img check)", TitleID: "Memeriksa setiap image disk hasil pemulihan (qemu-img check)", Verify: true,
			Run: func(ctx context.Context) (string, error) {
				files, _ := filepath.Glob(filepath.Join(dir, "*.qcow2"))
				if len(files) == 0 {
					return "", errors.New("no disk image was restored")
				}
				for _, f := range files {
					_, err := qemuImg(ctx, "check", "-f", "qcow2", f)
					detail := "no errors"
					if err != nil {
						detail = err.Error()
					}
					env.Check(targets.DrillCheck{Name: "qemu-img check " + filepath.Base(f), Passed: err == nil, Detail: detail})
					if err != nil {
						return "", fmt.Errorf("%s: %w", filepath.Base(f), err)
					}
				}
				return fmt.Sprintf("%d image(s) without errors", len(files)), nil
			}},
		{Key: "live-sample", Title: "Compare a sample of blocks with the live disk", TitleID: "Membandingkan sampel blok dengan disk yang berjalan",
			Run: func(ctx context.Context) (string, error) { return t.drillLiveSample(ctx, r, env) }},
		{Key: "boot", Title: "Start the isolated domain; it must stay running", TitleID: "Menyalakan domain terisolasi; harus tetap berjalan", Verify: true,
			Run: func(ctx context.Context) (string, error) {
				// The agent must answer if it answered when the backup was made.
				m, err := readManifest(ctx, r)
				if err != nil {
					return "", err
				}
				return t.drillBoot(ctx, name, env, m.Consistency == AppConsistent)
			}},
		{Key: "cleanup", Title: "Destroy and undefine the domain, remove the disks", TitleID: "Mematikan dan menghapus domain, menghapus disk", Always: true,
			Run: func(ctx context.Context) (string, error) {
				var errs []error
				if defined {
					errs = append(errs, t.removeDomain(ctx, name))
				}
				if err := os.RemoveAll(dir); err != nil {
					errs = append(errs, err)
				}
				if err := errors.Join(errs...); err != nil {
					return "", err
				}
				return "domain " + name + " and " + dir + " removed", nil
			}},
	}
}

// drillBoot starts the domain and watches it for env.BootSeconds; with expectAgent, the
// guest agent must then answer a ping.
func (t *Target) drillBoot(ctx context.Context, name string, env *targets.DrillEnv, expectAgent bool) (string, error) {
	c, err := dial(ctx, t.cfg.URI)
	if err != nil {
		return "", err
	}
	defer c.close()
	dom, err := c.DomainLookupByName(name)
	if err != nil {
		return "", fmt.Errorf("domain %s: %s", name, reason(contextErr(ctx, err)))
	}
	if err := c.DomainCreate(dom); err != nil {
		env.Check(targets.DrillCheck{Name: "domain starts", Passed: false, Detail: reason(err)})
		return "", fmt.Errorf("starting domain %s: %s", name, reason(contextErr(ctx, err)))
	}
	start := time.Now()
	for time.Since(start) < time.Duration(env.BootSeconds)*time.Second {
		st, _, err := c.DomainGetState(dom, 0)
		if err != nil {
			return "", fmt.Errorf("domain %s: %s", name, reason(contextErr(ctx, err)))
		}
		if golibvirt.DomainState(st) != golibvirt.DomainRunning {
			detail := fmt.Sprintf("%s after %s", stateName(st), time.Since(start).Round(time.Second))
			env.Check(targets.DrillCheck{Name: fmt.Sprintf("domain stays running for %d s", env.BootSeconds), Passed: false, Detail: detail})
			return "", fmt.Errorf("domain %s: %s", name, detail)
		}
		select {
		case <-ctx.Done():
			return "", context.Cause(ctx)
		case <-time.After(time.Second):
		}
	}
	env.Check(targets.DrillCheck{Name: fmt.Sprintf("domain stays running for %d s", env.BootSeconds), Passed: true, Detail: "running"})
	summary := fmt.Sprintf("running for %d s", env.BootSeconds)

	x, err := c.DomainGetXMLDesc(dom, 0)
	if err != nil {
		return "", fmt.Errorf("domain %s: %s", name, reason(err))
	}
	d, err := domxml.Parse(x)
	if err != nil {
		return "", err
	}
	switch {
	case !d.HasAgentChannel():
		return summary + "; no guest agent channel: not pinged", nil
	case !expectAgent:
		return summary + "; the guest agent was not connected when the backup was made: not pinged", nil
	}
	deadline := time.Now().Add(agentWait)
	for {
		_, err := c.QEMUDomainAgentCommand(dom, `{"execute":"guest-ping"}`, 10, 0)
		if err == nil {
			env.Check(targets.DrillCheck{Name: "guest agent answers (guest-ping)", Passed: true, Detail: "answered"})
			return summary + "; the guest agent answered", nil
		}
		if time.Now().After(deadline) {
			env.Check(targets.DrillCheck{Name: "guest agent answers (guest-ping)", Passed: false, Detail: reason(err)})
			return "", fmt.Errorf("domain %s: the guest agent did not answer within %s: %s", name, agentWait, reason(err))
		}
		select {
		case <-ctx.Done():
			return "", context.Cause(ctx)
		case <-time.After(2 * time.Second):
		}
	}
}

// removeDomain destroys (if running) and undefines a domain a drill defined.
func (t *Target) removeDomain(ctx context.Context, name string) error {
	c, err := dial(ctx, t.cfg.URI)
	if err != nil {
		return err
	}
	defer c.close()
	dom, err := c.DomainLookupByName(name)
	if isCode(err, golibvirt.ErrNoDomain) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("domain %s: %s", name, reason(err))
	}
	if st, _, err := c.DomainGetState(dom, 0); err == nil && active(st) {
		if err := c.DomainDestroy(dom); err != nil {
			return fmt.Errorf("destroying domain %s: %s", name, reason(err))
		}
	}
	flags := golibvirt.DomainUndefineNvram | golibvirt.DomainUndefineCheckpointsMetadata | golibvirt.DomainUndefineManagedSave | golibvirt.DomainUndefineSnapshotsMetadata
	if err := c.DomainUndefineFlags(dom, flags); err != nil {
		return fmt.Errorf("undefining domain %s: %s", name, reason(err))
	}
	return nil
}
