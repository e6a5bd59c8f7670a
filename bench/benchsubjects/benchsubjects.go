// Package benchsubjects holds the profiles of the load benchmark's
// subjects: the groups in their tokens, their license, status and direct
// space membership, chosen so that decisions mix allows and denies.
// bench/loadbench creates them through the API; authz's real-mix
// benchmark builds the same subjects in memory.
package benchsubjects

import "fmt"

// Name is subject i's user name.
func Name(i int) string { return fmt.Sprintf("bench-%04d", i) }

// Groups are the groups in subject i's token.
func Groups(i int) []string {
	var gs []string
	switch i % 4 {
	case 0:
		gs = append(gs, "Sales")
	case 1:
		gs = append(gs, "Finance")
	case 2:
		gs = append(gs, "Marketing")
	}
	if i%9 == 0 {
		gs = append(gs, "Bench")
	}
	return gs
}

// License is the license assigned to subject i: "" keeps the analyzer
// capacity access every user gets at login; "none" removes the
// assignment.
func License(i int) string {
	switch i % 5 {
	case 0, 3:
		return "professional"
	case 1:
		return "analyzer"
	case 4:
		return "none"
	}
	return ""
}

// Disabled reports whether subject i is disabled.
func Disabled(i int) bool { return i%50 == 7 }

// Membership is the space (by demo name) and role of subject i's direct
// membership, if any.
func Membership(i int) (space, role string) {
	switch i % 10 {
	case 0:
		return "Sales", "admin"
	case 1:
		return "Sales", "canview"
	case 2:
		return "Finance", "canedit"
	case 3:
		return "Company Reports", "canpublish"
	case 4:
		return "Company Reports", "cancontribute"
	case 5:
		return "Finance", "admin"
	case 6:
		return "Sales", "canedit"
	case 7:
		return "Company Reports", "canview"
	}
	return "", ""
}
