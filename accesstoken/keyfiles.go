package accesstoken

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// KeyFileError is a key file that cannot be written.
type KeyFileError struct {
	Path string
	Err  error
}

func (e *KeyFileError) Error() string { return e.Path + ": " + e.Err.Error() }
func (e *KeyFileError) Unwrap() error { return e.Err }

// WriteKeyFiles makes a new Ed25519 key pair and writes the private key
// (PEM PKCS #8, mode 0600) to privPath and the public key (PEM) to pubPath;
// with pubPath empty it returns the public key instead. Keys are never
// overwritten: both files are checked before either is written, and a
// file whose write fails is removed, so no empty or partial key is left.
func WriteKeyFiles(privPath, pubPath string) (pubPEM []byte, err error) {
	for _, p := range []string{privPath, pubPath} {
		if err := checkNewFile(p); err != nil {
			return nil, &KeyFileError{p, err}
		}
	}
	s, err := GenerateEd25519Signer()
	if err != nil {
		return nil, err
	}
	priv, err := MarshalPrivateKey(s.PrivateKey())
	if err != nil {
		return nil, err
	}
	pub, err := MarshalPublicKey(s.PublicKey())
	if err != nil {
		return nil, err
	}
	if err := writeNewFile(privPath, priv, 0o600); err != nil {
		return nil, &KeyFileError{privPath, err}
	}
	if pubPath == "" {
		return pub, nil
	}
	if err := writeNewFile(pubPath, pub, 0o644); err != nil {
		return nil, &KeyFileError{pubPath, err}
	}
	return nil, nil
}

// checkNewFile says why path cannot be created: its directory is missing,
// or it exists. Empty paths pass.
func checkNewFile(path string) error {
	if path == "" {
		return nil
	}
	if dir := filepath.Dir(path); dir != "." {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return fmt.Errorf("directory %s does not exist (create it first)", dir)
		}
	}
	if _, err := os.Stat(path); err == nil {
		return errors.New("already exists; keys are never overwritten")
	}
	return nil
}

// writeNewFile writes a file that must not exist, removing it again if the
// write fails.
func writeNewFile(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(path)
	}
	return werr
}
