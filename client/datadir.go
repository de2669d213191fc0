package client

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// TokenFile is the name of the admin token file in the data directory.
const TokenFile = "token"

// DefaultDataDir returns the data directory of `baton up`: $BATON_DATA_DIR
// when set, else $HOME/.baton (".baton" when there is no home directory).
func DefaultDataDir() string {
	if dir := os.Getenv("BATON_DATA_DIR"); dir != "" {
		return dir
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return ".baton"
	}
	return filepath.Join(home, ".baton")
}

// ReadToken reads the admin token that `baton up` keeps in
// <dataDir>/token, without surrounding white space. A missing file gives
// an error matching fs.ErrNotExist.
func ReadToken(dataDir string) (string, error) {
	path := filepath.Join(dataDir, TokenFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", errors.New("reading token: " + path + " is empty")
	}
	return tok, nil
}
