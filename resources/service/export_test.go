package service

// Quieter is quieter, for the tests.
var Quieter = quieter
