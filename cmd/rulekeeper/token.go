package main

import (
	"context"
	"errors"
	"io"
)

func token(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("token: not yet available")
}
