module.exports = {
  displayName: 'token-vault',
  preset: '../../jest.preset.js',
  rootDir: __dirname,
};
