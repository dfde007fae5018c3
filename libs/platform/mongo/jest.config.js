module.exports = {
  displayName: 'platform-mongo',
  preset: '../../../jest.preset.js',
  rootDir: __dirname,
};
