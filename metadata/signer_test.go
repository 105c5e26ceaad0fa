package metadata

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"sync"
	"testing"
)

func testSigningKey(t *testing.T, name string) SigningKey {
	t.Helper()
	keyPath, certPath := copyKey(t, name)
	k, err := LoadSigningKey(keyPath, certPath, testNow)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestNewKeySigner(t *testing.T) {
	cur, next := testSigningKey(t, "idp-current"), testSigningKey(t, "idp-next")
	s, err := NewKeySigner(cur)
	if err != nil {
		t.Fatal(err)
	}
	if s.Certificate() != cur.Cert {
		t.Error("Certificate is not the loaded certificate")
	}
	digest := sha256.Sum256([]byte("x"))
	sig, err := s.Sign(nil, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if err := rsa.VerifyPKCS1v15(&cur.Key.PublicKey, crypto.SHA256, digest[:], sig); err != nil {
		t.Errorf("signature does not verify: %v", err)
	}
	for name, k := range map[string]SigningKey{
		"no key":                     {Cert: cur.Cert},
		"no certificate":             {Key: cur.Key},
		"certificate of another key": {Key: cur.Key, Cert: next.Cert},
	} {
		if _, err := NewKeySigner(k); !errors.Is(err, ErrSigner) {
			t.Errorf("%s: err = %v, want ErrSigner", name, err)
		}
	}
}

// TestSignerSlotSwap: a swap is atomic for readers (each Current is one
// whole Signer) and a refused Signer leaves the slot unchanged. Run with
// -race.
func TestSignerSlotSwap(t *testing.T) {
	cur, next := testSigningKey(t, "idp-current"), testSigningKey(t, "idp-next")
	a, _ := NewKeySigner(cur)
	b, _ := NewKeySigner(next)
	slot, err := NewSignerSlot(a)
	if err != nil {
		t.Fatal(err)
	}
	if (&SignerSlot{}).Current() != nil {
		t.Error("zero slot has a signer")
	}
	if _, err := slot.Swap(&keySigner{key: cur.Key, cert: next.Cert}); !errors.Is(err, ErrSigner) {
		t.Errorf("mismatched signer: err = %v", err)
	}
	if slot.Current() != a {
		t.Error("refused swap changed the slot")
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 1000 {
				s := slot.Current()
				if !s.Public().(*rsa.PublicKey).Equal(s.Certificate().PublicKey) {
					t.Error("a Current signer's key and certificate differ")
					return
				}
			}
		})
	}
	for i := range 100 {
		next := a
		if i%2 == 0 {
			next = b
		}
		if _, err := slot.Swap(next); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if old, _ := slot.Swap(b); old != a {
		t.Error("Swap did not return the replaced signer")
	}
}
