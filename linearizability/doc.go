// Package linearizability turns what a simulator run recorded into verdicts.
package linearizability
