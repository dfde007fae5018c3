module.exports = {
  displayName: 'contracts-events',
  preset: '../../../jest.preset.js',
  rootDir: __dirname,
};
