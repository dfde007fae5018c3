module.exports = {
  displayName: 'platform-logger',
  preset: '../../../jest.preset.js',
  rootDir: __dirname,
};
