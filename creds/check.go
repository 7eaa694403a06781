package creds

import "time"

// The checks below are the ones Resolve applies to the assumed-role
// options, exported for the routes of a config file, whose credentials are
// the same options under other names: one rule for each, wherever it is
// written. Each error says what STS accepts, never the value.

// CheckRoleARN checks the shape arn:PARTITION:iam::ACCOUNT:role/NAME.
func CheckRoleARN(arn string) error { return validateRoleARN(arn) }

// CheckSessionName checks a role session name as STS takes it.
func CheckSessionName(name string) error { return validateSessionName(name) }

// CheckExternalID checks an external id as STS takes it.
func CheckExternalID(id string) error { return validateExternalID(id) }

// CheckRoleDuration checks a session duration as STS takes it.
func CheckRoleDuration(d time.Duration) error { return validateRoleDuration(d) }
