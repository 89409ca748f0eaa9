package drc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/cadang/cadang/drc/resticfmt"
)

// OpenMasterKey opens the repository's master key with this DRC's password: the key
// file there that the password opens. The password never leaves this package.
func (r *Repo) OpenMasterKey(ctx context.Context) (*resticfmt.Key, error) {
	b, err := os.ReadFile(r.passwordFile)
	if err != nil {
		return nil, fmt.Errorf("drc %q: no password file for agency %q", r.DRC, r.Agency)
	}
	password := strings.TrimSpace(string(b))
	var names []string
	err = r.Store.List(ctx, "keys/", func(o ObjectInfo) error {
		names = append(names, o.Name)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("drc %q: listing keys: %w", r.DRC, err)
	}
	for _, name := range names {
		data, err := ReadObject(ctx, r.Store, name)
		if err != nil {
			return nil, fmt.Errorf("drc %q: %s: %w", r.DRC, name, err)
		}
		k, err := resticfmt.OpenKeyFile(data, password)
		if errors.Is(err, resticfmt.ErrWrongPassword) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("drc %q: %s: %w", r.DRC, name, err)
		}
		return k, nil
	}
	return nil, fmt.Errorf("drc %q: the password of agency %q opens none of the %d keys there", r.DRC, r.Agency, len(names))
}
