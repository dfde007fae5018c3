// Offline checks of the deployment artefacts: Dockerfiles (apps/*/Dockerfile), versions, docs/CONFIGURATION.md.
module.exports = {
  displayName: 'infra',
  preset: '../jest.preset.js',
  rootDir: __dirname,
};
