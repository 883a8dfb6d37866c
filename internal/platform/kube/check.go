package kube

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/drill-dev/drill/internal/client/kube"
	"github.com/drill-dev/drill/internal/platform"
)

// needs maps each capability to what the API server must allow drill.
var needs = map[platform.Capability][]kube.Permission{
	platform.Lifecycle: {{Verb: "delete", Resource: "pods"}, {Verb: "update", Resource: "pods", Subresource: "ephemeralcontainers"}, {Verb: "create", Resource: "pods", Subresource: "exec"}},
	platform.Freeze:    {{Verb: "update", Resource: "pods", Subresource: "ephemeralcontainers"}, {Verb: "create", Resource: "pods", Subresource: "exec"}},
	platform.Exec:      {{Verb: "create", Resource: "pods", Subresource: "exec"}},
	platform.Logs:      {{Verb: "get", Resource: "pods", Subresource: "log"}},
	platform.NetRules:  {{Verb: "update", Resource: "pods", Subresource: "ephemeralcontainers"}, {Verb: "create", Resource: "pods", Subresource: "exec"}},
}

// Check tells, before any fault, whether the API server will let drill do
// what a scenario's steps need: it asks for each permission
// (SelfSubjectAccessReview) and reads the namespace's Pod Security level.
// The error lists every missing permission and says what to grant.
func (p *Platform) Check(ctx context.Context, caps []platform.Capability) error {
	perms := []kube.Permission{{Verb: "list", Resource: "pods"}, {Verb: "get", Resource: "pods"}}
	for _, c := range caps {
		for _, perm := range needs[c] {
			if !slices.Contains(perms, perm) {
				perms = append(perms, perm)
			}
		}
	}
	missing, err := p.client.Missing(ctx, perms...)
	if err != nil {
		return err
	}
	ns := p.client.Namespace()
	if len(missing) > 0 {
		return fmt.Errorf("the API server %s does not let drill %s in namespace %s: grant these verbs with a Role and RoleBinding (see docs/kubernetes.md)",
			p.client.Server(), listPermissions(missing), ns)
	}
	level, known, err := p.client.PodSecurity(ctx)
	if err != nil {
		return err
	}
	needsNet, needsRoot := false, false
	for _, c := range caps {
		needsNet = needsNet || c == platform.NetRules
		needsRoot = needsRoot || c == platform.Lifecycle || c == platform.Freeze
	}
	switch {
	case !known:
		p.log.Warn("cannot read the namespace's Pod Security level: a fault may still be refused", "namespace", ns)
	case level == "restricted" && (needsNet || needsRoot):
		return fmt.Errorf("namespace %s enforces Pod Security restricted (label pod-security.kubernetes.io/enforce): it refuses drill's fault containers, which run as root (and with NET_ADMIN for network faults); label the namespace pod-security.kubernetes.io/enforce=privileged for the drill", ns)
	case level == "baseline" && needsNet:
		return fmt.Errorf("namespace %s enforces Pod Security baseline (label pod-security.kubernetes.io/enforce): it refuses the NET_ADMIN capability that drill's network faults need; label the namespace pod-security.kubernetes.io/enforce=privileged for the drill", ns)
	}
	return nil
}

// listPermissions is "delete pods, create pods/exec".
func listPermissions(perms []kube.Permission) string {
	words := make([]string, len(perms))
	for i, m := range perms {
		words[i] = m.String()
	}
	return strings.Join(words, ", ")
}
