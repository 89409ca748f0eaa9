package export

import (
	"errors"
	"fmt"
	"strings"

	"filippo.io/age"
	"filippo.io/age/agessh"
)

// ParseRecipients parses the public keys a bundle is encrypted to: age X25519 keys
// ("age1..."), age post-quantum hybrid keys ("age1pq1..."), and OpenSSH ssh-ed25519
// or ssh-rsa public keys (one authorized_keys line each). Blank entries are an
// error, as is an empty list. An error names the key by its position (1-based) and
// shows at most a shortened public key; it never echoes what looks like a secret.
func ParseRecipients(keys []string) ([]age.Recipient, error) {
	if len(keys) == 0 {
		return nil, errors.New("export: no recipient public key")
	}
	out := make([]age.Recipient, 0, len(keys))
	for i, raw := range keys {
		k := strings.TrimSpace(raw)
		r, err := parseRecipient(k)
		if err != nil {
			return nil, fmt.Errorf("export: recipient %d of %d: %s", i+1, len(keys), err)
		}
		out = append(out, r)
	}
	return out, nil
}

// parseRecipient parses one key. Its errors are age's reasons, without the key.
func parseRecipient(k string) (age.Recipient, error) {
	switch {
	case k == "":
		return nil, errors.New("empty public key")
	case strings.HasPrefix(strings.ToUpper(k), "AGE-SECRET-KEY-") || strings.HasPrefix(strings.ToUpper(k), "AGE-PLUGIN-"):
		return nil, errors.New("this is an age secret key (identity), not a public key: give the public key (age1...) and keep the secret one private")
	case strings.Contains(k, "PRIVATE KEY"):
		return nil, errors.New("this is a private key, not a public key: give the public key (age1... or ssh-ed25519 ...)")
	case strings.HasPrefix(k, "age1pq1"):
		r, err := age.ParseHybridRecipient(k)
		if err != nil {
			return nil, fmt.Errorf("malformed age post-quantum public key %s", shorten(k))
		}
		return r, nil
	case strings.HasPrefix(k, "age1"):
		r, err := age.ParseX25519Recipient(k)
		if err != nil {
			return nil, fmt.Errorf("malformed age public key %s", shorten(k))
		}
		return r, nil
	case strings.HasPrefix(k, "ssh-ed25519 ") || strings.HasPrefix(k, "ssh-rsa "):
		r, err := agessh.ParseRecipient(k)
		if err != nil {
			return nil, fmt.Errorf("malformed SSH public key %s", shorten(k))
		}
		return r, nil
	case strings.HasPrefix(k, "ssh-") || strings.HasPrefix(k, "ecdsa-") || strings.HasPrefix(k, "sk-"):
		kind, _, _ := strings.Cut(k, " ")
		return nil, fmt.Errorf("unsupported SSH key type %q: use an age key (age1...), ssh-ed25519 or ssh-rsa", shorten(kind))
	}
	return nil, errors.New("not a public key: want an age key (age1...), ssh-ed25519 or ssh-rsa")
}

// shorten shows a public key by its start and end ("age1qyqs…x4t8"), enough to
// recognise it; keys are public, but a line of 60+ characters helps nobody.
func shorten(k string) string {
	if i := strings.IndexAny(k, " \t\r\n"); i >= 0 && strings.HasPrefix(k, "ssh-") {
		// "ssh-ed25519 AAAA... comment": the type, then the key shortened.
		kind, rest, _ := strings.Cut(k, " ")
		rest, _, _ = strings.Cut(strings.TrimSpace(rest), " ")
		return kind + " " + shorten(rest)
	}
	const head, tail = 10, 6
	if len(k) <= head+tail+1 {
		return k
	}
	return k[:head] + "…" + k[len(k)-tail:]
}
