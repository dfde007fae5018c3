module.exports = {
  displayName: 'platform-vault',
  preset: '../../../jest.preset.js',
  rootDir: __dirname,
};
