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

	"github.com/cadang/cadang/runbooks/msg"
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
		{Key: "restore", Activity: msg.New("libvirt.restore.title"),
			Do: func(ctx context.Context) (msg.Message, error) {
				if err := os.MkdirAll(t.cfg.scratchDir(), 0o711); err != nil {
					return msg.Message{}, fmt.Errorf("scratch dir: %w", err)
				}
				defined = true // from here on, clean-up looks for the domain
				if err := t.Restore(ctx, r, targets.RestoreRequest{To: dir, Options: map[string]string{"define": name}}); err != nil {
					return msg.Message{}, err
				}
				var total int64
				files, _ := filepath.Glob(filepath.Join(dir, "*.qcow2"))
				for _, f := range files {
					if st, err := os.Stat(f); err == nil {
						total += st.Size()
					}
				}
				env.Restored(total)
				return msg.New("libvirt.restore.done", "disks", len(files), "dir", dir, "domain", name), nil
			}},
		{Key: "verify-disks", Activity: msg.New("libvirt.disks.title"), Verify: true,
			Do: func(ctx context.Context) (msg.Message, error) {
				files, _ := filepath.Glob(filepath.Join(dir, "*.qcow2"))
				if len(files) == 0 {
					return msg.Message{}, msg.Fail("libvirt.disks.none")
				}
				for _, f := range files {
					_, err := qemuImg(ctx, "check", "-f", "qcow2", f)
					found := msg.New("libvirt.disks.no_errors")
					if err != nil {
						found = msg.Plain(err.Error()) // qemu-img's own words
					}
					env.Check(targets.DrillCheck{What: msg.New("libvirt.disks.check", "file", filepath.Base(f)), Passed: err == nil, Found: found})
					if err != nil {
						return msg.Message{}, fmt.Errorf("%s: %w", filepath.Base(f), err)
					}
				}
				return msg.New("libvirt.disks.ok", "n", len(files)), nil
			}},
		{Key: "live-sample", Activity: msg.New("libvirt.live.title"),
			Do: func(ctx context.Context) (msg.Message, error) { return t.drillLiveSample(ctx, r, env) }},
		{Key: "boot", Activity: msg.New("libvirt.boot.title"), Verify: true,
			Do: func(ctx context.Context) (msg.Message, error) {
				// The agent must answer if it answered when the backup was made.
				m, err := readManifest(ctx, r)
				if err != nil {
					return msg.Message{}, err
				}
				return t.drillBoot(ctx, name, env, m.Consistency == AppConsistent)
			}},
		{Key: "cleanup", Activity: msg.New("libvirt.cleanup.title"), Always: true,
			Do: func(ctx context.Context) (msg.Message, error) {
				var errs []error
				if defined {
					errs = append(errs, t.removeDomain(ctx, name))
				}
				if err := os.RemoveAll(dir); err != nil {
					errs = append(errs, err)
				}
				if err := errors.Join(errs...); err != nil {
					return msg.Message{}, err
				}
				return msg.New("libvirt.cleanup.done", "domain", name, "dir", dir), nil
			}},
	}
}

// drillBoot starts the domain and watches it for env.BootSeconds; with expectAgent, the
// guest agent must then answer a ping.
func (t *Target) drillBoot(ctx context.Context, name string, env *targets.DrillEnv, expectAgent bool) (msg.Message, error) {
	c, err := dial(ctx, t.cfg.URI)
	if err != nil {
		return msg.Message{}, err
	}
	defer c.close()
	dom, err := c.DomainLookupByName(name)
	if err != nil {
		return msg.Message{}, fmt.Errorf("domain %s: %s", name, reason(contextErr(ctx, err)))
	}
	if err := c.DomainCreate(dom); err != nil {
		env.Check(targets.DrillCheck{What: msg.New("libvirt.boot.starts"), Passed: false, Found: msg.Plain(reason(err))})
		return msg.Message{}, msg.Fail("libvirt.boot.start_failed", "domain", name, "err", reason(contextErr(ctx, err)))
	}
	stays := msg.New("libvirt.boot.stays", "seconds", env.BootSeconds)
	start := time.Now()
	for time.Since(start) < time.Duration(env.BootSeconds)*time.Second {
		st, _, err := c.DomainGetState(dom, 0)
		if err != nil {
			return msg.Message{}, fmt.Errorf("domain %s: %s", name, reason(contextErr(ctx, err)))
		}
		if golibvirt.DomainState(st) != golibvirt.DomainRunning {
			found := msg.New("libvirt.boot.stopped", "state", stateMessage(st), "after", time.Since(start).Round(time.Second))
			env.Check(targets.DrillCheck{What: stays, Passed: false, Found: found})
			return msg.Message{}, msg.Fail("libvirt.boot.domain", "domain", name, "err", found)
		}
		select {
		case <-ctx.Done():
			return msg.Message{}, context.Cause(ctx)
		case <-time.After(time.Second):
		}
	}
	env.Check(targets.DrillCheck{What: stays, Passed: true, Found: msg.New("libvirt.boot.running")})
	summary := msg.New("libvirt.boot.ran", "seconds", env.BootSeconds)

	x, err := c.DomainGetXMLDesc(dom, 0)
	if err != nil {
		return msg.Message{}, fmt.Errorf("domain %s: %s", name, reason(err))
	}
	d, err := domxml.Parse(x)
	if err != nil {
		return msg.Message{}, err
	}
	switch {
	case !d.HasAgentChannel():
		return msg.New("libvirt.boot.no_channel", "base", summary), nil
	case !expectAgent:
		return msg.New("libvirt.boot.agent_absent", "base", summary), nil
	}
	agent := msg.New("libvirt.boot.agent")
	deadline := time.Now().Add(agentWait)
	for {
		_, err := c.QEMUDomainAgentCommand(dom, `{"execute":"guest-ping"}`, 10, 0)
		if err == nil {
			env.Check(targets.DrillCheck{What: agent, Passed: true, Found: msg.New("libvirt.boot.answered")})
			return msg.New("libvirt.boot.agent_ok", "base", summary), nil
		}
		if time.Now().After(deadline) {
			env.Check(targets.DrillCheck{What: agent, Passed: false, Found: msg.Plain(reason(err))})
			return msg.Message{}, msg.Fail("libvirt.boot.agent_silent", "domain", name, "wait", agentWait, "err", reason(err))
		}
		select {
		case <-ctx.Done():
			return msg.Message{}, context.Cause(ctx)
		case <-time.After(2 * time.Second):
		}
	}
}

// stateMessage names a domain state, as stateName does, in the report's language.
func stateMessage(s int32) msg.Message {
	switch golibvirt.DomainState(s) {
	case golibvirt.DomainRunning:
		return msg.New("libvirt.state.running")
	case golibvirt.DomainBlocked:
		return msg.New("libvirt.state.blocked")
	case golibvirt.DomainPaused:
		return msg.New("libvirt.state.paused")
	case golibvirt.DomainShutdown:
		return msg.New("libvirt.state.shutting")
	case golibvirt.DomainShutoff:
		return msg.New("libvirt.state.shutoff")
	case golibvirt.DomainCrashed:
		return msg.New("libvirt.state.crashed")
	case golibvirt.DomainPmsuspended:
		return msg.New("libvirt.state.suspended")
	}
	return msg.New("libvirt.state.other", "n", int(s))
}

// removeDomain destroys (if running) and undefines a domain a drill defined.
func (t *Target) removeDomain(ctx context.Context, name string) error {
	return removeDomainAt(ctx, t.cfg.URI, name)
}

// removeDomainAt destroys (if running) and undefines the domain name at the hypervisor
// uri; a domain that is not there is no error.
func removeDomainAt(ctx context.Context, uri, name string) error {
	c, err := dial(ctx, uri)
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
