//go:build !wallclockjump

package main

import "time"

// wallNow is the wall clock: run records, notes and the lease's stamp are on it (the lease's age is not).
func wallNow() time.Time { return time.Now() }
