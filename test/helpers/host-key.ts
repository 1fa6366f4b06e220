// A fixed provisional SSH host key for the tests and the golden files. Test-only: it is
// committed, so it protects nothing; a real stack makes its own (tls.PrivateKey).
export const TEST_PROVISIONAL_HOST_KEY = {
    privateKeyOpenssh: `-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACB6IO+clF7CvHwq8A+l/WVOO3SNQZ3EYALuu3ilXjXgJwAAAKhEIJxrRCCc
awAAAAtzc2gtZWQyNTUxOQAAACB6IO+clF7CvHwq8A+l/WVOO3SNQZ3EYALuu3ilXjXgJw
AAAEC42mZMXuTPu7+EAm15UuSXH6k61+XBer5ZjdqtqMEQtHog75yUXsK8fCrwD6X9ZU47
dI1BncRgAu67eKVeNeAnAAAAI21haWxzdGFjay10ZXN0LXByb3Zpc2lvbmFsLWhvc3Qta2
V5AQI=
-----END OPENSSH PRIVATE KEY-----
`,
    publicKeyOpenssh: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHog75yUXsK8fCrwD6X9ZU47dI1BncRgAu67eKVeNeAn",
};
