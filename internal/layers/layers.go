// Package layers holds the test that enforces drill's import rules: exactly
// one package talks to each outside system, and imports flow down the
// layers (cmd -> internal/app -> steps -> platform, fault -> internal/client).
// It has no code of its own.
package layers
