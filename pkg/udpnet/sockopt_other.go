//go:build !linux

package udpnet

var platformMulticastOpts []sockopt
