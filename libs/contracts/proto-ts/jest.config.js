module.exports = {
  displayName: 'contracts-proto-ts',
  preset: '../../../jest.preset.js',
  rootDir: __dirname,
};
