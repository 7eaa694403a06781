// Package creds owns where AWS credentials come from (environment, shared
// config and credentials files, web identity, EKS Pod Identity and ECS
// container endpoints, IMDS, assume-role, a watched credentials file) and how
// they rotate: refreshed ahead of expiry in the background, the last good value
// kept when a refresh fails. The proxy only ever asks it for the current value.
package creds
